"""An asyncio adapter over the socket actor: ``await`` joins, pushes and messages.

.. code-block:: python

    async with AsyncSocket("ws://localhost:4000/socket/websocket") as socket:
        await socket.join("room:lobby")
        reply = await socket.push("room:lobby", "ping", {"n": 1})
        async for message in socket.subscribe("room:lobby"):
            print(message.event, message.payload)

:class:`AsyncSocket` is the thread-safe :class:`~phoenix_actor.Socket` facade seen from
an event loop: it starts the same actors, and every request still goes through the
socket actor's mailbox; only the waiting differs. Nothing blocks the loop and no thread
is started per request:

* a request carries a :class:`_LoopFuture`, a Pykka future that, when the socket actor
  sets it, also hands the outcome to an :class:`asyncio.Future` through
  ``loop.call_soon_threadsafe``. A task cancelled while it waits only stops waiting:
  the request is not taken back (a join may still succeed), and its late answer is
  dropped.
* the server's pushes and broadcasts, and the socket's connects, disconnects and stop,
  are posted to the loop the same way, in the order the actor saw them, where each
  :class:`AsyncSubscription` queues its share.

An :class:`AsyncSocket` belongs to the loop that created it: call its methods from
that loop's thread. Other threads may use the same socket through
:attr:`AsyncSocket.sync`, the blocking facade underneath (``sync.ref`` is the actor's
``ActorRef``).
"""

from phoenix_actor._facade.aio import (
    AsyncMessageCallback,
    AsyncSocket,
    AsyncSubscription,
)

__all__ = ["AsyncMessageCallback", "AsyncSocket", "AsyncSubscription"]
