"""State shared by every worker and instance, kept in Redis when `REDIS_URL` is set.

Each shared piece answers None (or does nothing) while Redis is unreachable, so its caller
falls back to what one process can decide alone; `RedisLink` notices the outage once and the
return of Redis by itself.
"""
