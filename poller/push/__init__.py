"""Push: flow aggregates the Notifications API sends between polls (issue 22).

`messages` parses a socket's frames, `session` keeps one org's channels subscribed and
connected and hands each data message on; the client's channel calls are in
`poller.genesys.notifications`.
"""
