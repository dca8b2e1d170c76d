"""Stateless echo with wechatpy on aiohttp: verify, decrypt, parse, reply with the text, encrypt in safe mode.

    python -m bench.peers.echo --port 8082      # start it twice on one port: SO_REUSEPORT shares it

What a minimal wechatpy service does per message, with no database: the most a Python gateway can answer.
"""

from __future__ import annotations

import argparse

from aiohttp import web
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from bench.signed_requests import AES_KEY, APPID, TOKEN

CRYPTO = WeChatCrypto(TOKEN, AES_KEY, APPID)


async def callback(request: web.Request) -> web.Response:
    query = request.query
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    safe = query.get("encrypt_type") == "aes"
    try:
        if not safe:
            check_signature(TOKEN, query.get("signature", ""), timestamp, nonce)
        if request.method == "GET":
            return web.Response(text=query.get("echostr", ""))
        body = await request.read()
        xml = CRYPTO.decrypt_message(body, query.get("msg_signature", ""), timestamp, nonce) if safe else body
    except (InvalidSignatureException, InvalidAppIdException):
        return web.Response(status=403, text="bad signature")
    message = parse_message(xml)
    if message.type != "text":
        return web.Response(text="success")
    reply = create_reply(message.content, message).render()
    if safe:
        reply = CRYPTO.encrypt_message(reply, nonce, timestamp)
    return web.Response(text=reply, content_type="application/xml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/wechat", callback)
    web.run_app(app, host="127.0.0.1", port=args.port, reuse_port=True, print=None, access_log=None)


if __name__ == "__main__":
    main()
