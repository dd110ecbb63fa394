//! One schema, two dialects: the SQLite and PostgreSQL migrations must build the same tables.
//!
//! Migrates a fresh database of each kind with the server's own migrations, reads back tables,
//! columns, primary keys, foreign keys, unique constraints, indexes and triggers (by name) from
//! each catalogue, maps the known dialect differences onto one vocabulary, and fails with a list
//! of every difference.
//!
//! Normalised away: `INTEGER`/`BIGINT` (SQLite integers are 64-bit; PostgreSQL `integer` is not,
//! so it stays different), `TEXT`/`VARCHAR`, `BIGSERIAL`/`SERIAL`/identity vs
//! `INTEGER PRIMARY KEY AUTOINCREMENT`, the names of constraint-backed indexes
//! (`sqlite_autoindex_*` vs `*_pkey`/`*_key`), casts in defaults and index predicates, and
//! sqlx's `_sqlx_migrations` and SQLite's internal tables.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use portcullis::db::Db;
use portcullis::Config;
use sqlx::{Connection, Row};

use crate::helpers::{postgres_disabled, Backend, Storage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    if postgres_disabled() {
        eprintln!("PORTCULLIS_TEST_POSTGRES=off: not comparing the PostgreSQL schema");
        return;
    }
    let sqlite = Storage::fresh(Backend::Sqlite).await;
    let postgres = Storage::fresh(Backend::Postgres).await;
    migrate(&sqlite).await;
    migrate(&postgres).await;

    let mut conn = sqlx::SqliteConnection::connect(&sqlite.database_url)
        .await
        .expect("open the SQLite database");
    let sqlite_schema = read_sqlite(&mut conn).await;
    let mut conn = sqlx::PgConnection::connect(&postgres.database_url)
        .await
        .expect("connect to the PostgreSQL database");
    let postgres_schema = read_postgres(&mut conn).await;

    assert!(
        !sqlite_schema.tables.is_empty(),
        "no tables read from SQLite"
    );
    let differences = compare(&sqlite_schema, &postgres_schema);
    assert!(
        differences.is_empty(),
        "the SQLite and PostgreSQL migrations (crates/portcullis/migrations/{{sqlite,postgres}}) \
         build different schemas:\n  - {}\n",
        differences.join("\n  - ")
    );
}

/// Migrates with the server's own code, as `portcullis migrate` does.
async fn migrate(storage: &Storage) {
    let settings: BTreeMap<&str, String> = [
        ("database_url", storage.database_url.clone()),
        ("data_dir", storage.dir.path().display().to_string()),
        ("database_max_connections", "2".to_owned()),
    ]
    .into();
    let config = Config::from_pairs(&settings).expect("config");
    let db = Db::connect(&config).await.expect("connect");
    db.migrate().await.expect("migrate");
    db.pool.close().await;
}

// ---- the normalised model ------------------------------------------------------------------

#[derive(Debug, Default, PartialEq)]
struct Schema {
    /// Applied migrations: version and description.
    migrations: BTreeSet<(i64, String)>,
    tables: BTreeMap<String, Table>,
    /// Triggers (not the database's own): table and trigger name. Their bodies differ by
    /// dialect; a trigger missing from one side is what this catches.
    triggers: BTreeSet<(String, String)>,
}

#[derive(Debug, Default, PartialEq)]
struct Table {
    /// In declaration order.
    columns: Vec<Column>,
    primary_key: Vec<String>,
    foreign_keys: BTreeSet<ForeignKey>,
    /// Column lists of UNIQUE constraints (not the primary key).
    unique: BTreeSet<Vec<String>>,
    /// Indexes created with CREATE [UNIQUE] INDEX, by name.
    indexes: BTreeMap<String, Index>,
}

#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    /// Normalised type and the type as declared, for messages.
    ty: String,
    declared: String,
    not_null: bool,
    default: ColumnDefault,
    /// Assigned by the database (SERIAL, identity, AUTOINCREMENT).
    generated: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum ColumnDefault {
    None,
    /// A number or a quoted string, casts removed.
    Literal(String),
    /// Anything else; compared only for presence.
    Expression(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    table: String,
    references: Vec<String>,
    on_delete: String,
    on_update: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    /// Normalised WHERE clause of a partial index.
    predicate: Option<String>,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.declared,
            if self.not_null { "NOT NULL" } else { "NULL" }
        )?;
        if self.default != ColumnDefault::None {
            write!(f, " {}", self.default)?;
        }
        if self.generated {
            write!(f, " (generated)")?;
        }
        Ok(())
    }
}

impl fmt::Display for ColumnDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnDefault::None => write!(f, "no default"),
            ColumnDefault::Literal(v) | ColumnDefault::Expression(v) => write!(f, "DEFAULT {v}"),
        }
    }
}

impl fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            self.columns.join(", "),
            self.table,
            self.references.join(", "),
            self.on_delete,
            self.on_update
        )
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unique {
            write!(f, "UNIQUE ")?;
        }
        write!(f, "({})", self.columns.join(", "))?;
        if let Some(p) = &self.predicate {
            write!(f, " WHERE {p}")?;
        }
        Ok(())
    }
}

// ---- normalising the dialects --------------------------------------------------------------

/// One name per kind of value. SQLite integers are all 64-bit; PostgreSQL's `integer` and
/// `smallint` are narrower and stay apart, since a unix-ms time would overflow them.
fn normalise_type(declared: &str) -> String {
    let t = declared.trim().to_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "bigint" | "int8" | "bigserial" => "int64".into(),
        "integer" | "int" | "int4" | "serial" | "mediumint" => "int32-or-int64".into(),
        "smallint" | "int2" | "smallserial" | "tinyint" => "int16".into(),
        "text" | "varchar" | "character varying" | "char" | "character" | "nvarchar" | "clob"
        | "citext" => "text".into(),
        "boolean" | "bool" => "boolean".into(),
        "real" | "double" | "double precision" | "float" | "float4" | "float8" => "float".into(),
        "blob" | "bytea" => "bytes".into(),
        "numeric" | "decimal" => "numeric".into(),
        _ => base.into(),
    }
}

/// SQLite's INTEGER is 64-bit, PostgreSQL's is 32-bit: resolve the shared spelling per side.
fn resolve_integer(ty: String, backend: Backend) -> String {
    match (ty.as_str(), backend) {
        ("int32-or-int64", Backend::Sqlite) | ("int16", Backend::Sqlite) => "int64".into(),
        ("int32-or-int64", Backend::Postgres) => "int32".into(),
        _ => ty,
    }
}

/// Removes `::type` casts (PostgreSQL prints them in defaults and predicates).
/// An index key that is an expression (`lower(email)`), as SQLite's `pragma_index_info` names it:
/// the two dialects write the same index differently (SQLite's needs `COLLATE NOCASE` for `LIKE`,
/// PostgreSQL's an operator class), so expression keys are compared by position only.
fn expression_as_sqlite_names_it(key: String) -> String {
    if key.contains('(') {
        "<expression>".into()
    } else {
        key
    }
}

fn strip_casts(expression: &str) -> String {
    const MULTI_WORD: [&str; 4] = [
        "character varying",
        "double precision",
        "timestamp with time zone",
        "timestamp without time zone",
    ];
    let mut out = String::new();
    let mut rest = expression;
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at]);
        rest = &rest[at + 2..];
        let lower = rest.to_lowercase();
        let skip = match MULTI_WORD.iter().find(|t| lower.starts_with(*t)) {
            Some(t) => t.len(),
            None => rest
                .find(|c: char| !(c.is_alphanumeric() || "_.\"[]".contains(c)))
                .unwrap_or(rest.len()),
        };
        rest = &rest[skip..];
        // A length or precision: varchar(20), numeric(10,2).
        if rest.starts_with('(') {
            rest = &rest[rest.find(')').map_or(rest.len(), |i| i + 1)..];
        }
    }
    out.push_str(rest);
    out
}

fn strip_outer_parens(mut s: &str) -> &str {
    loop {
        let t = s.trim();
        if t.starts_with('(') && t.ends_with(')') && balanced(&t[1..t.len() - 1]) {
            s = &t[1..t.len() - 1];
        } else {
            return t;
        }
    }
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

fn normalise_default(raw: Option<&str>) -> ColumnDefault {
    let Some(raw) = raw else {
        return ColumnDefault::None;
    };
    let value = strip_casts(raw);
    let value = strip_outer_parens(&value);
    let unquoted = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\''));
    let is_number = |v: &str| v.parse::<f64>().is_ok();
    if is_number(value) {
        ColumnDefault::Literal(value.into())
    } else if let Some(inner) = unquoted {
        // '0'::bigint and 0 are the same default; the column types are compared on their own.
        if is_number(inner) {
            ColumnDefault::Literal(inner.into())
        } else {
            ColumnDefault::Literal(value.into())
        }
    } else {
        ColumnDefault::Expression(value.to_lowercase())
    }
}

/// An index predicate, comparable across dialects: no casts, no parentheses, one space.
fn normalise_predicate(raw: &str) -> String {
    strip_casts(raw)
        .replace(['(', ')'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn foreign_key_action(action: &str) -> String {
    match action.to_uppercase().as_str() {
        // PostgreSQL's pg_constraint codes
        "A" => "NO ACTION".into(),
        "R" => "RESTRICT".into(),
        "C" => "CASCADE".into(),
        "N" => "SET NULL".into(),
        "D" => "SET DEFAULT".into(),
        other => other.into(),
    }
}

// ---- reading the catalogues ----------------------------------------------------------------

async fn read_sqlite(conn: &mut sqlx::SqliteConnection) -> Schema {
    let mut schema = Schema::default();
    for row in sqlx::query("SELECT version, description FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await
        .expect("read _sqlx_migrations")
    {
        schema
            .migrations
            .insert((row.get("version"), row.get("description")));
    }
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list SQLite tables");
    for (name, sql) in tables {
        let mut table = Table::default();
        let autoincrement = sql.to_uppercase().contains("AUTOINCREMENT");
        let mut pk: Vec<(i64, String)> = Vec::new();
        for row in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}') ORDER BY cid"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("table_info")
        {
            let column: String = row.get("name");
            let declared: String = row.get("type");
            let pk_position: i64 = row.get("pk");
            let not_null: i64 = row.get("notnull");
            let ty = resolve_integer(normalise_type(&declared), Backend::Sqlite);
            // INTEGER PRIMARY KEY is the rowid: never NULL, assigned when omitted (and only
            // never reused with AUTOINCREMENT, which is what "generated" compares).
            let rowid = pk_position == 1 && declared.eq_ignore_ascii_case("INTEGER");
            if pk_position > 0 {
                pk.push((pk_position, column.clone()));
            }
            table.columns.push(Column {
                name: column,
                ty,
                declared,
                not_null: not_null != 0 || rowid,
                default: normalise_default(row.get::<Option<String>, _>("dflt_value").as_deref()),
                generated: rowid && autoincrement,
            });
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();

        let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list('{name}') ORDER BY id, seq"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("foreign_key_list")
        {
            let key = keys.entry(row.get("id")).or_insert_with(|| ForeignKey {
                columns: vec![],
                table: row.get("table"),
                references: vec![],
                on_delete: foreign_key_action(row.get("on_delete")),
                on_update: foreign_key_action(row.get("on_update")),
            });
            key.columns.push(row.get("from"));
            // `REFERENCES t` without columns means t's primary key: resolved below.
            key.references
                .push(row.get::<Option<String>, _>("to").unwrap_or_default());
        }
        table.foreign_keys = keys.into_values().collect();

        let indexes: Vec<(String, i64, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(
            format!("SELECT name, \"unique\", origin, partial FROM pragma_index_list('{name}')"),
        ))
        .fetch_all(&mut *conn)
        .await
        .expect("index_list");
        for (index, unique, origin, partial) in indexes {
            let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_index_info('{index}') ORDER BY seqno"
            )))
            .fetch_all(&mut *conn)
            .await
            .expect("index_info")
            .iter()
            .map(|r| {
                r.get::<Option<String>, _>("name")
                    .unwrap_or_else(|| "<expression>".into())
            })
            .collect();
            match origin.as_str() {
                "pk" => {} // the primary key, read above
                "u" => {
                    table.unique.insert(columns);
                }
                _ => {
                    let predicate = if partial != 0 {
                        let sql: String = sqlx::query_scalar(
                            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
                        )
                        .bind(&index)
                        .fetch_one(&mut *conn)
                        .await
                        .expect("index sql");
                        let at = sql.to_uppercase().rfind(" WHERE ").expect("partial index");
                        Some(normalise_predicate(&sql[at + 7..]))
                    } else {
                        None
                    };
                    table.indexes.insert(
                        index,
                        Index {
                            columns,
                            unique: unique != 0,
                            predicate,
                        },
                    );
                }
            }
        }
        schema.tables.insert(name, table);
    }
    schema.triggers =
        sqlx::query_as("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut *conn)
            .await
            .expect("list SQLite triggers")
            .into_iter()
            .collect();
    // Foreign keys written `REFERENCES t` point at t's primary key.
    let primary_keys: BTreeMap<String, Vec<String>> = schema
        .tables
        .iter()
        .map(|(n, t)| (n.clone(), t.primary_key.clone()))
        .collect();
    for table in schema.tables.values_mut() {
        table.foreign_keys = std::mem::take(&mut table.foreign_keys)
            .into_iter()
            .map(|mut key| {
                if key.references.iter().all(String::is_empty) {
                    key.references = primary_keys.get(&key.table).cloned().unwrap_or_default();
                }
                key
            })
            .collect();
    }
    schema
}

async fn read_postgres(conn: &mut sqlx::PgConnection) -> Schema {
    let mut schema = Schema::default();
    for row in sqlx::query("SELECT version, description FROM _sqlx_migrations")
        .fetch_all(&mut *conn)
        .await
        .expect("read _sqlx_migrations")
    {
        schema
            .migrations
            .insert((row.get("version"), row.get("description")));
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
         AND c.relname <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list PostgreSQL tables");
    for name in tables {
        let mut table = Table::default();
        let columns = sqlx::query(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS declared, \
                    a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS dflt, \
                    a.attidentity <> '' AS identity \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("columns");
        for row in columns {
            let declared: String = row.get("declared");
            let dflt: Option<String> = row.get("dflt");
            let serial = dflt.as_deref().is_some_and(|d| d.starts_with("nextval("));
            let generated = serial || row.get::<bool, _>("identity");
            table.columns.push(Column {
                name: row.get("name"),
                ty: resolve_integer(normalise_type(&declared), Backend::Postgres),
                declared,
                not_null: row.get("not_null"),
                default: if serial {
                    ColumnDefault::None
                } else {
                    normalise_default(dflt.as_deref())
                },
                generated,
            });
        }

        let constraints = sqlx::query(
            "SELECT c.contype::text AS kind, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n \
                          ORDER BY k.i) AS columns, \
                    c.confrelid::regclass::text AS target, \
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n \
                          ORDER BY k.i) AS references, \
                    c.confdeltype::text AS on_delete, c.confupdtype::text AS on_update \
             FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u', 'f')",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("constraints");
        for row in constraints {
            let columns: Vec<String> = row.get("columns");
            match row.get::<String, _>("kind").as_str() {
                "p" => table.primary_key = columns,
                "u" => {
                    table.unique.insert(columns);
                }
                _ => {
                    table.foreign_keys.insert(ForeignKey {
                        columns,
                        table: row.get("target"),
                        references: row.get("references"),
                        on_delete: foreign_key_action(row.get("on_delete")),
                        on_update: foreign_key_action(row.get("on_update")),
                    });
                }
            }
        }

        // Indexes that no primary-key or unique constraint owns.
        let indexes = sqlx::query(
            "SELECT i.relname::text AS name, x.indisunique AS is_unique, \
                    pg_get_expr(x.indpred, x.indrelid) AS predicate, \
                    ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) \
                          FROM generate_series(1, x.indnkeyatts) k ORDER BY k) AS columns \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE x.indrelid = $1::regclass AND NOT EXISTS ( \
                 SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid \
                 AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .expect("indexes");
        for row in indexes {
            table.indexes.insert(
                row.get("name"),
                Index {
                    columns: row
                        .get::<Vec<String>, _>("columns")
                        .into_iter()
                        .map(expression_as_sqlite_names_it)
                        .collect(),
                    unique: row.get("is_unique"),
                    predicate: row
                        .get::<Option<String>, _>("predicate")
                        .map(|p| normalise_predicate(&p)),
                },
            );
        }
        schema.tables.insert(name, table);
    }
    schema.triggers = sqlx::query_as(
        "SELECT c.relname::text, t.tgname::text FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND NOT t.tgisinternal",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list PostgreSQL triggers")
    .into_iter()
    .collect();
    schema
}

// ---- comparing -----------------------------------------------------------------------------

/// Every difference, one readable line each, naming table and column.
fn compare(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (version, description) in sqlite.migrations.symmetric_difference(&postgres.migrations) {
        let side = if sqlite.migrations.contains(&(*version, description.clone())) {
            "sqlite"
        } else {
            "postgres"
        };
        out.push(format!(
            "migration {version} {description}: only in the {side} folder"
        ));
    }
    for (table, trigger) in sqlite.triggers.symmetric_difference(&postgres.triggers) {
        let side = if sqlite.triggers.contains(&(table.clone(), trigger.clone())) {
            "sqlite"
        } else {
            "postgres"
        };
        out.push(format!("table {table}, trigger {trigger}: only in {side}"));
    }
    let names: BTreeSet<&String> = sqlite.tables.keys().chain(postgres.tables.keys()).collect();
    for name in names {
        match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(s), Some(p)) => compare_tables(name, s, p, &mut out),
            (Some(_), None) => out.push(format!("table {name}: only in sqlite")),
            (None, Some(_)) => out.push(format!("table {name}: only in postgres")),
            (None, None) => unreachable!(),
        }
    }
    out
}

fn compare_tables(table: &str, s: &Table, p: &Table, out: &mut Vec<String>) {
    let by_name = |t: &Table| -> BTreeMap<String, Column> {
        t.columns
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect()
    };
    let (sc, pc) = (by_name(s), by_name(p));
    for name in sc.keys().chain(pc.keys()).collect::<BTreeSet<_>>() {
        let at = format!("table {table}, column {name}");
        match (sc.get(name), pc.get(name)) {
            (Some(c), None) => out.push(format!("{at}: only in sqlite ({c})")),
            (None, Some(c)) => out.push(format!("{at}: only in postgres ({c})")),
            (Some(a), Some(b)) => {
                if a.ty != b.ty {
                    out.push(format!(
                        "{at}: type {} in sqlite ({}), {} in postgres ({})",
                        a.ty, a.declared, b.ty, b.declared
                    ));
                }
                if a.not_null != b.not_null {
                    let n = |c: &Column| if c.not_null { "NOT NULL" } else { "nullable" };
                    out.push(format!("{at}: {} in sqlite, {} in postgres", n(a), n(b)));
                }
                let comparable = !matches!(a.default, ColumnDefault::Expression(_))
                    && !matches!(b.default, ColumnDefault::Expression(_));
                let present = |d: &ColumnDefault| !matches!(d, ColumnDefault::None);
                if (comparable && a.default != b.default)
                    || present(&a.default) != present(&b.default)
                {
                    out.push(format!(
                        "{at}: {} in sqlite, {} in postgres",
                        a.default, b.default
                    ));
                }
                if a.generated != b.generated {
                    let g = |c: &Column| {
                        if c.generated {
                            "generated by the database (AUTOINCREMENT / SERIAL / identity)"
                        } else {
                            "not generated"
                        }
                    };
                    out.push(format!("{at}: {} in sqlite, {} in postgres", g(a), g(b)));
                }
            }
            (None, None) => unreachable!(),
        }
    }
    let order = |t: &Table| -> Vec<String> {
        t.columns
            .iter()
            .filter(|c| sc.contains_key(&c.name) && pc.contains_key(&c.name))
            .map(|c| c.name.clone())
            .collect()
    };
    if order(s) != order(p) {
        out.push(format!(
            "table {table}: column order ({}) in sqlite, ({}) in postgres",
            order(s).join(", "),
            order(p).join(", ")
        ));
    }
    if s.primary_key != p.primary_key {
        out.push(format!(
            "table {table}: primary key ({}) in sqlite, ({}) in postgres",
            s.primary_key.join(", "),
            p.primary_key.join(", ")
        ));
    }
    // The same key with other actions is one difference, not two.
    let same_key = |a: &ForeignKey, b: &ForeignKey| {
        (&a.columns, &a.table, &a.references) == (&b.columns, &b.table, &b.references)
    };
    for key in s.foreign_keys.difference(&p.foreign_keys) {
        match p.foreign_keys.iter().find(|other| same_key(key, other)) {
            Some(other) => out.push(format!(
                "table {table}: foreign key ({}) ON DELETE {} ON UPDATE {} in sqlite, \
                 ON DELETE {} ON UPDATE {} in postgres",
                key.columns.join(", "),
                key.on_delete,
                key.on_update,
                other.on_delete,
                other.on_update
            )),
            None => out.push(format!("table {table}: foreign key {key} only in sqlite")),
        }
    }
    for key in p.foreign_keys.difference(&s.foreign_keys) {
        if !s.foreign_keys.iter().any(|other| same_key(key, other)) {
            out.push(format!("table {table}: foreign key {key} only in postgres"));
        }
    }
    for columns in s.unique.difference(&p.unique) {
        out.push(format!(
            "table {table}: UNIQUE ({}) only in sqlite",
            columns.join(", ")
        ));
    }
    for columns in p.unique.difference(&s.unique) {
        out.push(format!(
            "table {table}: UNIQUE ({}) only in postgres",
            columns.join(", ")
        ));
    }
    for name in s
        .indexes
        .keys()
        .chain(p.indexes.keys())
        .collect::<BTreeSet<_>>()
    {
        let at = format!("table {table}, index {name}");
        match (s.indexes.get(name), p.indexes.get(name)) {
            (Some(i), None) => out.push(format!("{at}: only in sqlite {i}")),
            (None, Some(i)) => out.push(format!("{at}: only in postgres {i}")),
            (Some(a), Some(b)) if a != b => {
                out.push(format!("{at}: {a} in sqlite, {b} in postgres"))
            }
            _ => {}
        }
    }
}

// ---- the normalisation itself --------------------------------------------------------------

#[test]
fn dialect_spellings_normalise_to_one_name() {
    let sqlite = |t: &str| resolve_integer(normalise_type(t), Backend::Sqlite);
    let postgres = |t: &str| resolve_integer(normalise_type(t), Backend::Postgres);
    assert_eq!(sqlite("INTEGER"), postgres("bigint"));
    assert_eq!(sqlite("BIGINT"), postgres("bigint"));
    assert_ne!(
        sqlite("INTEGER"),
        postgres("integer"),
        "int4 overflows unix ms"
    );
    assert_eq!(sqlite("TEXT"), postgres("character varying(255)"));
    assert_eq!(sqlite("VARCHAR(20)"), postgres("text"));
    assert_eq!(
        normalise_default(Some("'user'::text")),
        normalise_default(Some("'user'"))
    );
    assert_eq!(
        normalise_default(Some("'0'::bigint")),
        normalise_default(Some("0"))
    );
    assert_eq!(
        normalise_default(Some("(-1)")),
        normalise_default(Some("-1"))
    );
    assert_eq!(
        normalise_default(Some("'x'::character varying")),
        normalise_default(Some("'x'"))
    );
    assert_eq!(
        normalise_predicate("(status = 'pending'::text)"),
        normalise_predicate("status = 'pending'")
    );
    assert_eq!(
        normalise_predicate("(used_at IS NULL)"),
        normalise_predicate("used_at IS NULL")
    );
}
