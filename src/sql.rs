//! The hand-written SQL the extension ships (sql/*.sql), in the order the install script needs.
//! The same files, minus `tables.sql`, make up the body of an upgrade script: every function in
//! them is `CREATE OR REPLACE`, so a fresh install and an upgraded one end up alike (the upgrade
//! test compares their catalogs).

use pgrx::prelude::*;

// private.sql (the ara_internal schema) is declared in trigger.rs, next to the trigger function
// it needs.

extension_sql_file!(
    "../sql/tables.sql",
    name = "tables",
    requires = ["private_schema"]
);

extension_sql_file!(
    "../sql/enable.sql",
    name = "enable",
    requires = ["private_schema"]
);

extension_sql_file!(
    "../sql/backfill.sql",
    name = "backfill",
    requires = ["enable", "tables"]
);

extension_sql_file!(
    "../sql/lookup.sql",
    name = "lookup",
    requires = ["enable", "ara_lookup_window"]
);

extension_sql_file!(
    "../sql/sizing.sql",
    name = "sizing",
    requires = ["lookup", "tables", "ara_right_size_window"]
);

extension_sql_file!(
    "../sql/investigate.sql",
    name = "investigate",
    requires = ["lookup", "sizing"]
);

extension_sql_file!(
    "../sql/fingerprint.sql",
    name = "fingerprint",
    requires = ["investigate"]
);

extension_sql_file!(
    "../sql/monitoring.sql",
    name = "monitoring",
    requires = ["enable", "tables", "lookup"]
);

extension_sql_file!(
    "../sql/simulate.sql",
    name = "simulate",
    requires = ["enable", "simulate_aggregates"]
);

extension_sql_file!(
    "../sql/tune.sql",
    name = "tune",
    requires = ["simulate", "sizing"]
);

extension_sql_file!(
    "../sql/state.sql",
    name = "state",
    requires = ["enable", "tables", "backfill", "sizing"]
);
