"""The ceiling: an aiohttp app that reads the body and answers `success`, nothing else.

python -m bench.peers.bare --port 8081      # start it twice on one port: SO_REUSEPORT shares it
"""

from __future__ import annotations

import argparse

from aiohttp import web


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="success")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/wechat", answer)
    web.run_app(app, host="127.0.0.1", port=args.port, reuse_port=True, print=None, access_log=None)


if __name__ == "__main__":
    main()
