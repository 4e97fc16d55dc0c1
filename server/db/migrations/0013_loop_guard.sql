-- Loop and storm guard (CONTRACT §12). Incoming mail is marked automated with the reasons found;
-- every message keeps its X-LoftBox-Hops count so a reply can carry the next one; a hold by the guard
-- has no policy, so its explanation is kept beside the reason. Organizations may override the limits.
ALTER TABLE messages ADD COLUMN automated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN automation_reasons TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN hops INTEGER;
ALTER TABLE messages ADD COLUMN approval_detail TEXT;
ALTER TABLE organizations ADD COLUMN loop_limits TEXT;
