"""Content: message templates, sandboxed rendering, validation, versions, journeys as data, coupon pools.

Entry points for other packages:

- rendering a push: `publishing.versions.get_version` / `render_version`, with a context from
  `content.fields.build_render_context(follower, profile, StepContext(...), now)`;
- editing (console): `publishing.versions.save_template` / `publish_draft`, `publishing.publish.save_journey_doc`,
  previews with `content.fields.sample_context` and `content.preview.preview_timeline`
  (inputs gathered by `publishing.preview_source`);
- journeys: `content.model.JourneyDefinition.from_doc(row.definition)`;
- coupons: `publishing.coupons.load_codes` / `pool_statuses`; draws only through `journeys.coupons.CouponDrawer`;
- replies: `publishing.replybook.ContentReplyBook`;
- content directories: `content.loader.read_content_dir` then `publishing.publish.load_bundle`.
"""
