"""Content: message templates, sandboxed rendering, validation, versions, journeys as data, coupon pools.

Entry points for other packages:

- rendering a push: `content.versions.get_version` / `render_version`, with a context from
  `content.fields.build_render_context(follower, profile, StepContext(...), now)`;
- editing (console): `content.versions.save_template` / `publish_draft`, `content.publish.save_journey_doc`,
  previews with `content.fields.sample_context` and `content.preview.preview_timeline`
  (inputs gathered by `content.preview_source`);
- journeys: `content.model.JourneyDefinition.from_doc(row.definition)`;
- coupons: `content.coupons.draw_coupon` / `load_codes` / `pool_statuses`;
- replies: `content.replybook.ContentReplyBook`;
- content directories: `content.loader.read_content_dir` then `content.publish.load_bundle`.
"""
