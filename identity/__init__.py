"""Identity: phone numbers, phone vault, binding followers to phone-keyed profiles, consent, data rights."""
