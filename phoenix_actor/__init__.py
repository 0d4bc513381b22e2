"""phoenix_actor: a Phoenix Channels client for threaded Python, on Pykka actors."""
