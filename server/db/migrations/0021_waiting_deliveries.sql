-- The queue's lease reads each organization's waiting deliveries by index, earliest first, and stops
-- once it has leased enough: a lease costs what it leases, not the size of the backlog. The domain is in
-- the index (and the status, which the partial index implies but SQLite still reads) so that passing over
-- a delivery whose domain has no free slot reads nothing but the index.
CREATE INDEX deliveries_waiting_org ON deliveries (org_id, next_attempt_at, id, domain, status)
  WHERE status IN ('queued', 'deferred');
