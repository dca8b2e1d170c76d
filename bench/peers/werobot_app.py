"""WeRoBot as deployed under load: its WSGI app under gunicorn with sync workers, echoing every text.

    bench/out/.peers-venv/bin/gunicorn --workers 2 --bind 127.0.0.1:8083 bench.peers.werobot_app:app

Runs in the peers' own virtual environment (`pip install werobot gunicorn cryptography`), never the
project's. No session by default, so WeRoBot keeps no state (the product keeps a lot);
BENCH_WEROBOT_SESSION=1 turns on its default SQLite session, a durable write per message.
"""

from __future__ import annotations

import os
import tempfile

import werobot

from bench.signed_requests import AES_KEY, APPID, TOKEN

robot = werobot.WeRoBot(token=TOKEN, encoding_aes_key=AES_KEY, app_id=APPID)
if os.environ.get("BENCH_WEROBOT_SESSION") == "1":
    from werobot.session.sqlitestorage import SQLiteStorage

    robot.config["SESSION_STORAGE"] = SQLiteStorage(os.path.join(tempfile.gettempdir(), f"werobot-{os.getpid()}.db"))
else:
    robot.config["SESSION_STORAGE"] = False


@robot.text  # type: ignore[untyped-decorator]
def echo(message: object) -> str:
    return str(getattr(message, "content", ""))


app = robot.wsgi
