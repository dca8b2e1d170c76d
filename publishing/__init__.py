"""Content as stored: template versions, publishing bundles, the reply book, coupon pools, preview data."""
