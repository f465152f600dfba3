"""django-mongodb-backend with index-friendly filters (ENGINE ``medibot.mongodb``).

django-mongodb-backend 5.2 emits every multi-condition filter as ``{"$and": [{a}, {b}, ...]}``.
MongoDB's planner normalises that, but other MongoDB-compatible servers (SecantusDB among them)
only match indexes against a flat filter document and fall back to a collection scan. This
engine merges the ``$and`` into the equivalent flat document ``{a, b}`` before the query is
sent — the same semantics on every server, and index scans everywhere.
"""
