"""What a handler receives besides the event: the account, the follower, a database session, services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from base.clock import Clock
from base.metrics import Probes
from base.settings import Settings
from base.vault import PhoneVault
from identity.sms import SmsSender
from identity.sms.sandbox import SandboxSmsSender
from publishing.links import LinkTracker
from storage.conversations import ConversationStore
from storage.db import Database
from storage.events import NewEvent, events_write
from storage.followers import FollowerRecord
from storage.group_commit import group_commit
from storage.models.core import Account, Follower
from wechat.api.client import WeChatAPI
from wechat.events import Inbound

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from handlers.replybook import ReplyBook

# Work run after the reply of an interaction went back: `await hook(ctx, event)`, never delaying it.
InteractionHook = Callable[["HandlerContext", Inbound], Awaitable[None]]


@dataclass
class Services:
    """Long-lived collaborators shared by all handlers; built once by the application (scrm.app).

    Feature services are typed fields, None when the application did not install one (a test, a CLI
    command), so every caller sees what it gets and mypy checks it.
    """

    db: Database
    settings: Settings
    clock: Clock
    # What /readyz checks and /metrics refreshes (the scheduler, backlogs, imports add theirs).
    probes: Probes = field(default_factory=Probes)
    # The outbound API client: late replies go through it, the console tests a connection with it.
    wechat_api: WeChatAPI | None = None
    # Welcome, keyword, menu, scan and help replies; None: the built-in book (handlers.replybook).
    reply_book: ReplyBook | None = None
    # Conversation state (the binding flow); None: no state middleware work.
    conversations: ConversationStore | None = None
    # Seals phone numbers; None: one built from the settings' key on first use (see `vault`).
    phone_vault: PhoneVault | None = None
    # None: binding relies on order questions.
    sms_sender: SmsSender | None = None
    # The sandbox SMS sender's outbox, which the follower simulator shows.
    sms_outbox: SandboxSmsSender | None = None
    # Run after the reply of every interaction (journeys add the wake-on-interaction delivery).
    interaction_hooks: list[InteractionHook] = field(default_factory=list)
    # Rewrites links of what we send into tracked links and reads them back; None: links go out as written.
    link_tracker: LinkTracker | None = None

    @property
    def vault(self) -> PhoneVault:
        """The shared phone vault."""
        if self.phone_vault is None:
            self.phone_vault = PhoneVault(self.settings.data_key)
        return self.phone_vault


class HandlerContext:
    """Per-delivery context. Middlewares fill it in, in their fixed order (see handlers.middlewares).

    The session and the follower's ORM object are made only when a handler asks for them: most callbacks
    (a keyword, a menu click) need neither, and building them is a large share of a callback's cost. While
    the session middleware's scope is open, asking for either gives both: the follower is always in the
    session, so a handler that changes it has that change committed with the rest of its work.
    """

    def __init__(
        self,
        services: Services,
        account: Account,
        *,
        session: AsyncSession | None = None,
        follower: Follower | None = None,
        state: Any = None,
    ) -> None:
        self.services = services
        self.account = account
        self._session = session
        self._follower = follower
        # Set by the session middleware for the length of its scope: how to open the delivery's session.
        self._open_session: Callable[[], AsyncSession] | None = None
        # The follower row as recorded (by the follower middleware or the transport's claim), not yet an object.
        self.follower_record: FollowerRecord | None = None
        # Conversation state of this follower (binding flow); set by the state middleware.
        self.state = state
        # Work to run after the reply has been sent (e.g. delivering held pushes): never delays the reply.
        self.after_reply: list[Callable[[], Awaitable[None]]] = []
        # What the follower did, for their profile's timeline (see `record_signal`).
        self.signals: list[NewEvent] = []
        # The handler that answered (module.qualname), for the error log; None before the router chose.
        self.handler: str | None = None

    def record_signal(self, event: Inbound, kind: str, payload: dict[str, Any]) -> None:
        """Keep `kind` on the follower's timeline, as a domain event written once the reply is on its way.

        Written through the group commit after the reply (never delaying it); a callback without a known
        follower records nothing.
        """
        follower_id = self.follower_id
        if follower_id is None:
            return
        if not self.signals:
            self.after_reply.append(self._write_signals)
        profile_id = self._follower.profile_id if self._follower is not None else None
        if profile_id is None and self.follower_record is not None:
            profile_id = self.follower_record.profile_id
        self.signals.append(
            NewEvent(
                kind=kind, occurred_at=self.clock.now(), appid=self.account.appid, follower_id=follower_id,
                profile_id=profile_id, payload=payload, dedup_key=f"{kind}:{event.dedup_key}",
            )
        )  # fmt: skip

    async def _write_signals(self) -> None:
        signals, self.signals = self.signals, []
        await group_commit(self.db).run(events_write(signals, once=True), lingering=True)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def session(self) -> AsyncSession | None:
        """The delivery's session, opened on first use inside the session middleware's scope."""
        if self._session is None and self._open_session is not None:
            self._session = self._open_session()
            if self._follower is not None:
                self._session.add(self._follower)
        return self._session

    @session.setter
    def session(self, session: AsyncSession | None) -> None:
        self._session = session

    @property
    def follower(self) -> Follower | None:
        """The follower of this delivery; inside the session scope it is attached to the session."""
        if self._follower is None and self.follower_record is not None:
            self._follower = self.follower_record.model()
            if self._open_session is not None:
                self.require_session().add(self._follower)
        return self._follower

    @follower.setter
    def follower(self, follower: Follower | None) -> None:
        self._follower = follower

    @property
    def follower_id(self) -> int | None:
        """The follower's id without building its ORM object."""
        if self._follower is not None:
            return self._follower.id
        return self.follower_record.id if self.follower_record is not None else None

    def open_session_scope(self, open_session: Callable[[], AsyncSession]) -> None:
        """Start the session middleware's scope: `session` and `follower` open a session when used."""
        self._open_session = open_session

    def close_session_scope(self) -> AsyncSession | None:
        """End the scope; the session it opened, if any (the caller commits or closes it)."""
        session, self._session, self._open_session = self._session, None, None
        return session

    def require_session(self) -> AsyncSession:
        session = self.session
        if session is None:
            raise RuntimeError("no database session: the session middleware did not run")
        return session

    def require_follower(self) -> Follower:
        follower = self.follower
        if follower is None:
            raise RuntimeError("no follower: the follower middleware did not run")
        return follower
