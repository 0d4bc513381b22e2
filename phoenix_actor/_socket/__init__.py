"""The socket actor: the callback contract, the actor and its parts, its mailbox, config."""
