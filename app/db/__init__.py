"""The database: engine, tables, the stored status enums (`statuses`), migrations."""
