-- Flotilla's task table (the columns of the real one: see shared/spec/flotilla-facts.md), for the
-- demo, the benchmark and the multi-connection tests. psql variable task_table: its name (default task).
\if :{?task_table} \else \set task_table task \endif
CREATE TABLE :task_table (
    run_id varchar PRIMARY KEY, definition_id varchar, alias varchar, image varchar, cluster_name varchar,
    exit_code integer, exit_reason varchar, status varchar, queued_at timestamptz, started_at timestamptz,
    finished_at timestamptz, instance_id varchar, instance_dns_name varchar, group_name varchar,
    task_type varchar, env jsonb, command text, memory integer, cpu integer, gpu integer,
    engine varchar NOT NULL DEFAULT 'eks', ephemeral_storage integer, node_lifecycle varchar, pod_name varchar,
    namespace varchar, max_cpu_used integer, max_memory_used integer, pod_events jsonb, command_hash text,
    cloudtrail_notifications jsonb, executable_id varchar, executable_type varchar, execution_request_custom jsonb,
    cpu_limit integer, memory_limit integer, attempt_count integer, spawned_runs jsonb, run_exceptions jsonb,
    active_deadline_seconds integer, spark_extension jsonb, metrics_uri varchar, description varchar,
    idempotence_key varchar, "user" varchar, arch varchar, labels jsonb, requires_docker boolean,
    service_account varchar, tier text
);
