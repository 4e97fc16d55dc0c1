-- The queue's lease looks up waiting deliveries per organization and recipient domain, earliest first,
-- and counts an organization's waiting deliveries ahead of one: both by index, so a lease costs what it
-- leases, not the size of the backlog.
CREATE INDEX deliveries_waiting_pair ON deliveries (org_id, domain, next_attempt_at, id)
  WHERE status IN ('queued', 'deferred');
CREATE INDEX deliveries_waiting_org ON deliveries (org_id, next_attempt_at, id)
  WHERE status IN ('queued', 'deferred');
