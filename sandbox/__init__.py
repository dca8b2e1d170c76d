"""The sandbox: a fake WeChat API server (`sandbox.fake_wechat.FakeWeChat`) and the follower simulator
(`sandbox.simulator.add_sandbox_routes`), so the whole product runs on a laptop without a WeChat account."""
