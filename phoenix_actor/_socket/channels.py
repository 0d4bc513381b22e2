"""The rules that tie a socket's session events to its parts.

:class:`Channels` decides what a join, leave or push does (send it, buffer it, refuse
it), what a reply, a refused join, a closed channel or a timeout does to the futures,
the buffer, the channel states and the rejoins. It sends through a ``send`` callable
and owns no state of its own: the state lives in the parts it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._protocol import session as s
from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import ChannelReply, Message
from phoenix_actor._socket.mailbox import _Request, _Waiter, check_timeout
from phoenix_actor._socket.observer import ChannelState, SocketState
from phoenix_actor.exceptions import (
    ChannelClosedError,
    DisconnectedError,
    NotJoinedError,
    PushError,
    PushTimeoutError,
)

if TYPE_CHECKING:
    from phoenix_actor._socket.config import Config
    from phoenix_actor._socket.rejoins import Rejoins
    from phoenix_actor._socket.replies import Replies
    from phoenix_actor._socket.states import States

logger = logging.getLogger("phoenix_actor.socket")


class Channels:
    """Joins, leaves and pushes, and what each session event does to them."""

    __slots__ = ("_config", "_rejoins", "_replies", "_send", "_serializer", "_session", "_states")

    def __init__(
        self,
        config: Config,
        session: s.Session,
        *,
        send: Callable[[s.Outbound], None],
        states: States,
        rejoins: Rejoins,
        replies: Replies,
    ) -> None:
        self._config = config
        self._session = session
        self._serializer = session.serializer
        self._send = send
        self._states = states
        self._rejoins = rejoins
        self._replies = replies

    # -- requests ---------------------------------------------------------------------

    def request(self, request: _Request) -> None:
        """Send a join, leave or push whose reply resolves its future, or buffer it.

        Raises :class:`PushError` (nothing sent, nothing buffered) when it can be neither.
        """
        check_timeout(request.timeout)
        session = self._session
        kind, topic = request.kind, request.topic
        replies = self._replies
        if kind == "push" and self._should_buffer(topic):
            s.check_push(topic, request.event)
            replies.check_room(topic, request.event)
            # Encode once now, so that a payload that cannot be sent fails here.
            self._serializer.encode(Message(None, 0, topic, request.event, request.payload))
            replies.buffer(replies.new_waiter(request))
            return
        if not session.is_connected:
            raise DisconnectedError("the socket is not connected")
        if kind == "join":
            out = session.join(topic, request.payload)
        elif kind == "leave":
            out = session.leave(topic, request.payload)
        else:
            out = session.push(topic, request.event, request.payload)
        replies.track_sent(replies.new_waiter(request), out.ref)
        if kind == "leave":
            self.left(topic, out)
        elif kind == "join":
            self.joining(topic, out)
        else:
            self._send(out)

    def _should_buffer(self, topic: str) -> bool:
        """A push to ``topic`` should wait: it is joining, or will be rejoined."""
        if self._config.push_buffer == 0:
            return False
        state = self._session.state(topic)
        if state is s.TopicState.JOINING:
            return True
        if state is not None or not self._rejoins.wants(topic):
            return False
        # wanted but not joined: waiting for a rejoin, or for the connection to come back
        return self._session.is_connected or self._states.socket is not SocketState.DISCONNECTED

    def joining(self, topic: str, out: s.Outbound) -> None:
        """Send the join ``out`` of ``topic``."""
        self._send(out)
        self._states.set_channel(topic, ChannelState.JOINING)

    def left(self, topic: str, out: s.Outbound) -> None:
        """Send the leave ``out`` of ``topic``: it is no longer rejoined."""
        self._send(out)
        self._states.set_channel(topic, ChannelState.LEAVING)
        self.forget(topic, lambda: NotJoinedError(f"{topic!r} was left before the push was sent"))

    def forget(self, topic: str, error: Callable[[], BaseException]) -> None:
        """Stop rejoining ``topic``; fail the pushes buffered for it."""
        self._rejoins.forget(topic)
        self._replies.fail_buffered(lambda w: w.topic == topic, error)

    def _flush(self, topic: str) -> None:
        """Send the pushes buffered for ``topic``, now joined, in order."""
        replies = self._replies
        for waiter in replies.take_buffered(topic):
            try:
                out = self._session.push(topic, waiter.event, waiter.payload)
            except PushError as exc:
                replies.reject(waiter, exc)
                continue
            replies.track_sent(waiter, out.ref)
            self._send(out)

    def _errored_or_closed(self, topic: str) -> None:
        """The topic's channel is gone: ERRORED if it will be rejoined, else CLOSED."""
        will_rejoin = self._rejoins.wants(topic)
        self._states.set_channel(
            topic, ChannelState.ERRORED if will_rejoin else ChannelState.CLOSED
        )

    # -- session events ---------------------------------------------------------------

    def joined(self, event: s.Joined) -> None:
        topic = event.topic
        self._rejoins.want(topic, event.payload)
        self._states.set_channel(topic, ChannelState.JOINED)
        replies = self._replies
        waiter = replies.sent.get(event.join_ref)
        if waiter is not None:
            replies.resolve(waiter, ChannelReply(topic, event.join_ref, "ok", event.response))
        self._flush(topic)

    def join_refused(self, event: s.JoinRefused) -> None:
        topic = event.topic
        replies = self._replies
        waiter = replies.sent.get(event.join_ref)
        if waiter is not None:
            reply = ChannelReply(topic, event.join_ref, event.status, event.response)
            replies.resolve(waiter, reply)
        if self._rejoins.wanted(topic):
            logger.warning(
                "rejoin of %r refused (%s): not retrying", topic, Bounded(event.response)
            )
        self._states.set_channel(topic, ChannelState.CLOSED)
        self.forget(topic, lambda: NotJoinedError(f"the join of {topic!r} was refused"))

    def channel_closed(self, event: s.ChannelClosed) -> None:
        topic = event.topic
        closed = f"the channel of {topic!r} closed ({event.event})"
        replies = self._replies
        for waiter in replies.sent_to(topic):
            if waiter.kind == "leave" and event.event == "phx_close":
                replies.resolve(waiter, waiter.reply or ChannelReply(topic, waiter.ref, "ok", {}))
            else:
                replies.reject(waiter, ChannelClosedError(closed))
        if event.event == "phx_close":
            self.forget(topic, lambda: ChannelClosedError(closed))
            self._states.set_channel(topic, ChannelState.CLOSED)
        else:
            self._errored_or_closed(topic)
            self._rejoins.schedule(topic)

    def reply(self, event: s.ReplyReceived) -> None:
        if type(event.ref) is not int:
            return
        replies = self._replies
        waiter = replies.sent.get(event.ref)
        if waiter is not None and waiter.topic == event.topic:
            reply = ChannelReply(event.topic, event.ref, event.status, event.response)
            if waiter.kind == "leave" and reply.ok:
                waiter.reply = reply  # resolved once the channel is closed
            else:
                replies.resolve(waiter, reply)

    # -- timeouts -----------------------------------------------------------------------

    def deadlines_due(self, token: int) -> None:
        """Time out every request whose deadline has passed."""
        for waiter in self._replies.expired(token):
            self._timed_out(waiter)

    def _timed_out(self, waiter: _Waiter) -> None:
        if waiter.done:
            return  # answered meanwhile (a join timing out fails its buffered pushes)
        replies = self._replies
        sent = waiter.ref is not None
        replies.unbuffer(waiter)
        what = f"{waiter.kind} {waiter.event!r} to {waiter.topic!r}"
        message = (
            f"no reply to {what} within the timeout"
            if sent
            else f"{what} was never sent: the topic was not joined within the timeout"
        )
        replies.reject(waiter, PushTimeoutError(message))
        session = self._session
        if waiter.kind != "join" or not session.is_connected:
            return
        topic = waiter.topic
        if session.state(topic) is s.TopicState.JOINING and session.join_ref(topic) == waiter.ref:
            logger.warning("join of %r timed out: abandoning it", topic)
            self._send(session.abandon_join(topic))
            self._errored_or_closed(topic)
            if self._rejoins.wants(topic):
                self._rejoins.schedule(topic)  # joined before: keep trying
            else:
                replies.fail_buffered(lambda w: w.topic == topic, lambda: PushTimeoutError(message))

    # -- rejoining ----------------------------------------------------------------------

    def rejoin(self, topic: str) -> None:
        """Join ``topic`` again with its last payload, if it is still wanted and unjoined."""
        rejoins = self._rejoins
        rejoins.cancel(topic)
        session = self._session
        if not rejoins.wants(topic) or not session.is_connected or session.state(topic) is not None:
            return
        logger.info("rejoining %r", topic)
        try:
            out = session.join(topic, rejoins.payload(topic))
        except PushError as exc:
            problem = f"cannot rejoin {topic!r}: {exc}"
            logger.error("%s", problem)  # noqa: TRY400 -- the message says it all
            self.forget(topic, lambda: NotJoinedError(problem))
            return
        self.joining(topic, out)
        replies = self._replies
        waiter = replies.new_waiter(_Request("join", topic, "phx_join", None, None, None))
        replies.track_sent(waiter, out.ref)

    def rejoin_all(self) -> None:
        """Rejoin every wanted topic (a connection opened)."""
        for topic in self._rejoins.topics():
            self.rejoin(topic)

    def rejoin_due(self, topic: str, token: int) -> None:
        """A rejoin timer fired: rejoin ``topic`` unless the timer was cancelled."""
        if self._rejoins.fired(topic, token):
            self.rejoin(topic)

    # -- the connection -----------------------------------------------------------------

    def disconnected(self) -> None:
        """The connection is gone: every channel errored (or closed, if it will not be
        rejoined), no rejoin scheduled (all come once connected again)."""
        for topic in self._states.channels():
            self._errored_or_closed(topic)
        self._rejoins.cancel_all()
