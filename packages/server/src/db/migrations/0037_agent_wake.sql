-- Wakes the process that holds an agent's connection when a job is queued for it, or it is revoked,
-- by another control-plane process: the agent gets the job, or is disconnected, within moments
-- rather than at its next heartbeat (docs/agent.md). A notification is delivered only on commit;
-- the heartbeat stays as the fallback for a lost listening connection.
CREATE FUNCTION tenantry.notify_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Each branch is planned only when it runs: agents has no agent_id, agent_jobs' id is the job's.
  IF TG_TABLE_NAME = 'agents' THEN
    PERFORM pg_notify('tenantry_agents', NEW.id);
  ELSE
    PERFORM pg_notify('tenantry_agents', NEW.agent_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER agent_jobs_wake AFTER INSERT ON tenantry.agent_jobs
  FOR EACH ROW EXECUTE FUNCTION tenantry.notify_agent();
CREATE TRIGGER agents_revoked_wake AFTER UPDATE OF state ON tenantry.agents
  FOR EACH ROW WHEN (NEW.state = 'revoked' AND OLD.state IS DISTINCT FROM 'revoked')
  EXECUTE FUNCTION tenantry.notify_agent();
