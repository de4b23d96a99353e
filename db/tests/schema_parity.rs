//! Schema parity: migrates a fresh SQLite file and a fresh PostgreSQL
//! database with their own migration sets (`migrations/sqlite`,
//! `migrations/postgres`) and checks that both end with the same schema, so
//! the one query text in `patchport-db` means the same thing on both.
//!
//! Each backend's catalogue is read into "facts", keyed by table and by
//! what they are about, and the two sets of facts are compared:
//!
//! - the set of tables (sqlx's `_sqlx_migrations` and SQLite's internal
//!   `sqlite_*` tables left out);
//! - per column: its type, normalised to a small vocabulary (`integer`,
//!   `boolean`, `text`, `real`, `blob`, `timestamp`; any other type stays as
//!   written, so it shows up), whether it accepts NULL, its default
//!   (normalised: casts, parentheses and `0`/`1` for booleans), and whether
//!   the database generates it (SQLite `autoincrement`, PostgreSQL identity
//!   or sequence); and the column order, for `select *`;
//! - the primary key columns, in order;
//! - indexes created by `create [unique] index`, by name: columns, whether
//!   unique, and the partial-index predicate (normalised as for checks);
//! - unique constraints as column lists, whatever the database named their
//!   indexes (`*_key` on PostgreSQL, `sqlite_autoindex_*` on SQLite);
//!   primary-key indexes are covered by the primary key;
//! - foreign keys: columns, referenced table and columns, `on delete` and
//!   `on update` actions;
//! - check constraints, as normalised expression text (casts, parentheses
//!   and brackets dropped, PostgreSQL's `= any (array[…])` read as `in`),
//!   which catches a missing or changed check though not a regrouping
//!   inside one;
//! - triggers: their names per table, and the events the table's triggers
//!   fire on (timing, event, `update of` columns). Trigger bodies differ by
//!   design (SQL triggers on SQLite, PL/pgSQL functions on PostgreSQL) and
//!   are not compared.
//!
//! Every mismatch is printed, side by side, before the test fails. A
//! difference that is deliberate goes into [`ALLOWED`] with its key exactly
//! as printed (`table: fact`) and a one-line reason; an entry that no
//! longer matches any difference fails the test too, so the list never
//! hides more than it says.
//!
//! PostgreSQL comes from `PATCHPORT_TEST_POSTGRES`; without it the test is
//! skipped with a message, except under `CI`, where it fails.

use patchport_db::{Db, testing};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet};

/// Known, deliberate differences: (`table: fact` as printed, reason).
const ALLOWED: &[(&str, &str)] = &[
    (
        "server_patch: trigger server_patch_from_insert",
        "per statement on PostgreSQL (transition tables), per row on SQLite",
    ),
    (
        "server_patch: trigger server_patch_from_delete",
        "per statement on PostgreSQL (transition tables), per row on SQLite",
    ),
    (
        "server_patch: trigger server_patch_from_update",
        "per statement on PostgreSQL, whose transition tables forbid an `update of` column list",
    ),
    (
        "server_patch: trigger events",
        "the three triggers above: same events, per statement on PostgreSQL",
    ),
];

/// Per table, fact → value.
type Facts = BTreeMap<String, BTreeMap<String, String>>;

#[tokio::test]
async fn sqlite_and_postgres_migrations_give_the_same_schema() {
    let Some(pg_url) = testing::postgres_url().await else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must test PostgreSQL too: set {}",
            testing::POSTGRES_ENV
        );
        eprintln!(
            "SKIPPED schema parity: {} is not set, no PostgreSQL to compare with",
            testing::POSTGRES_ENV
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = migrated(&testing::sqlite_url(dir.path())).await;
    let postgres = migrated(&pg_url).await;
    let lite = sqlite_facts(&mut sqlite.read().await.unwrap()).await;
    let pg = postgres_facts(&mut postgres.read().await.unwrap()).await;
    sqlite.close().await;
    postgres.close().await;
    assert!(lite.len() > 10, "SQLite schema not read: {lite:?}");

    let mismatches = compare(&lite, &pg);
    let (allowed, unexpected): (Vec<_>, Vec<_>) = mismatches
        .iter()
        .partition(|m| ALLOWED.iter().any(|(key, _)| *key == m.key));
    let stale: Vec<_> = ALLOWED
        .iter()
        .filter(|(key, _)| !mismatches.iter().any(|m| m.key == *key))
        .collect();
    eprintln!(
        "schema parity: {} tables on SQLite, {} on PostgreSQL; {} allowed difference(s)",
        lite.len(),
        pg.len(),
        allowed.len()
    );
    for m in &allowed {
        eprintln!("  allowed: {}", m.key);
    }
    let mut report = String::new();
    for m in &unexpected {
        report.push_str(&format!(
            "- {}\n    sqlite:   {}\n    postgres: {}\n",
            m.key, m.sqlite, m.postgres
        ));
    }
    for (key, reason) in &stale {
        report.push_str(&format!(
            "- allow-list entry matches no difference (remove it): {key} ({reason})\n"
        ));
    }
    assert!(
        report.is_empty(),
        "{} schema difference(s) between migrations/sqlite and migrations/postgres, \
         {} stale allow-list entr(y/ies):\n{report}",
        unexpected.len(),
        stale.len()
    );
}

async fn migrated(url: &str) -> Db {
    let db = Db::connect(url).await.expect("connect test database");
    db.migrate().await.expect("migrate test database");
    db
}

// ---------------------------------------------------------------------------
// Comparison

/// One difference: what it is about and each side's value.
#[derive(Debug)]
struct Mismatch {
    key: String,
    sqlite: String,
    postgres: String,
}

const MISSING: &str = "(missing)";

fn compare(lite: &Facts, pg: &Facts) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let tables: BTreeSet<&String> = lite.keys().chain(pg.keys()).collect();
    for table in tables {
        match (lite.get(table), pg.get(table)) {
            (Some(a), Some(b)) => {
                let facts: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for fact in facts {
                    let (x, y) = (a.get(fact), b.get(fact));
                    if x != y {
                        out.push(Mismatch {
                            key: format!("{table}: {fact}"),
                            sqlite: x.map_or(MISSING, String::as_str).to_owned(),
                            postgres: y.map_or(MISSING, String::as_str).to_owned(),
                        });
                    }
                }
            }
            (a, b) => out.push(Mismatch {
                key: format!("table {table}"),
                sqlite: if a.is_some() { "present" } else { MISSING }.to_owned(),
                postgres: if b.is_some() { "present" } else { MISSING }.to_owned(),
            }),
        }
    }
    out
}

/// A column as both backends describe it, before normalisation.
struct Column {
    name: String,
    declared_type: String,
    nullable: bool,
    default: Option<String>,
    generated: bool,
}

fn add_columns(facts: &mut BTreeMap<String, String>, columns: &[Column]) {
    for c in columns {
        let ty = normalise_type(&c.declared_type);
        let default = c
            .default
            .as_deref()
            .map_or_else(|| "none".to_owned(), |d| normalise_default(d, &ty));
        let n = &c.name;
        facts.insert(format!("column {n} type"), ty);
        facts.insert(
            format!("column {n} nullable"),
            if c.nullable { "null" } else { "not null" }.to_owned(),
        );
        facts.insert(format!("column {n} default"), default);
        facts.insert(
            format!("column {n} generated"),
            if c.generated { "generated" } else { "no" }.to_owned(),
        );
    }
    let order: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    facts.insert("column order".to_owned(), order.join(", "));
}

/// Records a fact that may occur more than once (two identical checks).
fn add_counted(facts: &mut BTreeMap<String, String>, key: String) {
    let n = facts
        .get(&key)
        .and_then(|v| v.strip_prefix("present x"))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(u32::from(facts.contains_key(&key)));
    let value = if n == 0 {
        "present".to_owned()
    } else {
        format!("present x{}", n + 1)
    };
    facts.insert(key, value);
}

fn index_fact(columns: &[String], unique: bool, predicate: &str) -> String {
    let mut s = format!(
        "{}({})",
        if unique { "unique " } else { "" },
        columns.join(", ")
    );
    if !predicate.is_empty() {
        s.push_str(" where ");
        s.push_str(predicate);
    }
    s
}

fn trigger_events_fact(events: &BTreeMap<String, BTreeSet<String>>) -> String {
    let all: BTreeSet<&String> = events.values().flatten().collect();
    all.into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("; ")
}

fn add_triggers(facts: &mut BTreeMap<String, String>, events: &BTreeMap<String, BTreeSet<String>>) {
    for (name, evs) in events {
        let evs: Vec<&str> = evs.iter().map(String::as_str).collect();
        facts.insert(format!("trigger {name}"), evs.join("; "));
    }
    if !events.is_empty() {
        facts.insert("trigger events".to_owned(), trigger_events_fact(events));
    }
}

/// `after update of a, b` with the columns sorted; `for each statement`
/// appended when not per row.
fn trigger_event(timing: &str, event: &str, columns: &mut [String], per_row: bool) -> String {
    let mut s = format!("{} {}", timing.to_lowercase(), event.to_lowercase());
    if !columns.is_empty() {
        columns.sort();
        s.push_str(" of ");
        s.push_str(&columns.join(", "));
    }
    if !per_row {
        s.push_str(" for each statement");
    }
    s
}

// ---------------------------------------------------------------------------
// Normalisation

fn normalise_type(raw: &str) -> String {
    let t = raw.trim().to_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "integer" | "int" | "bigint" | "smallint" | "tinyint" | "int2" | "int4" | "int8" => {
            "integer".to_owned()
        }
        "boolean" | "bool" => "boolean".to_owned(),
        "text" | "varchar" | "character varying" | "char" | "character" | "clob" => {
            "text".to_owned()
        }
        "real" | "double precision" | "double" | "float" | "float4" | "float8" | "numeric"
        | "decimal" => "real".to_owned(),
        "blob" | "bytea" => "blob".to_owned(),
        b if b.starts_with("timestamp") || b == "datetime" => "timestamp".to_owned(),
        "" => "(no type)".to_owned(),
        other => other.to_owned(),
    }
}

fn normalise_default(raw: &str, ty: &str) -> String {
    let mut toks = normal_expr(&tokenize(raw));
    if let [tok] = toks.as_mut_slice() {
        match (ty, &*tok) {
            ("integer" | "real", Tok::Str(s)) if s.parse::<f64>().is_ok() => {
                *tok = Tok::Num(s.clone());
            }
            ("boolean", Tok::Num(n) | Tok::Str(n)) if n == "0" || n == "f" || n == "false" => {
                *tok = Tok::Word("false".to_owned());
            }
            ("boolean", Tok::Num(n) | Tok::Str(n)) if n == "1" || n == "t" || n == "true" => {
                *tok = Tok::Word("true".to_owned());
            }
            _ => {}
        }
    }
    render(&toks)
}

/// A token of SQL text: identifiers and keywords lower-cased and unquoted
/// (`"x"`, `` `x` ``; SQLite's `[x]` is not used in the migrations, and `[`
/// stays punctuation for PostgreSQL's `array[…]`).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Punct(String),
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == '-' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == '*' {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '\'' | '"' | '`') {
            let (text, end) = quoted(&chars, i + 1, c);
            toks.push(if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Word(text)
            });
            i = end;
        } else if c.is_ascii_digit() || (c == '.' && next.is_ascii_digit()) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$')) {
                i += 1;
            }
            toks.push(Tok::Word(
                chars[start..i].iter().collect::<String>().to_lowercase(),
            ));
        } else {
            let two: String = [c, next].iter().collect();
            let op = match two.as_str() {
                "<>" | "!=" => Some("<>"),
                "<=" | ">=" | "::" | "||" => Some(two.as_str()),
                "==" => Some("="),
                _ => None,
            };
            match op {
                Some(op) => {
                    toks.push(Tok::Punct(op.to_owned()));
                    i += 2;
                }
                None => {
                    toks.push(Tok::Punct(c.to_string()));
                    i += 1;
                }
            }
        }
    }
    toks
}

/// Reads a quoted token from `start` (after the opening quote) to its
/// closing `close`, a doubled `close` standing for one; returns the text
/// and the index after the closing quote.
fn quoted(chars: &[char], start: usize, close: char) -> (String, usize) {
    let mut text = String::new();
    let mut i = start;
    while i < chars.len() {
        if chars[i] == close {
            if chars.get(i + 1) == Some(&close) {
                text.push(close);
                i += 2;
                continue;
            }
            return (text, i + 1);
        }
        text.push(chars[i]);
        i += 1;
    }
    (text, i)
}

/// The comparable form of an expression: casts, parentheses, brackets and
/// `array` dropped; `= any` read as `in`; a leading `check` dropped; a
/// unary minus joined to its number.
fn normal_expr(toks: &[Tok]) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    if toks.first() == Some(&Tok::Word("check".to_owned())) {
        i = 1;
    }
    while i < toks.len() {
        let tok = &toks[i];
        i += 1;
        match tok {
            Tok::Punct(p) if p == "::" => {
                while matches!(toks.get(i), Some(Tok::Word(_))) {
                    i += 1;
                }
            }
            Tok::Punct(p) if matches!(p.as_str(), "(" | ")" | "[" | "]") => {}
            Tok::Word(w) if w == "array" => {}
            Tok::Word(w) if w == "any" && out.last() == Some(&Tok::Punct("=".to_owned())) => {
                out.pop();
                out.push(Tok::Word("in".to_owned()));
            }
            Tok::Num(n) if out.last() == Some(&Tok::Punct("-".to_owned())) && unary(&out) => {
                out.pop();
                out.push(Tok::Num(format!("-{n}")));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Whether the `-` last in `out` is a sign (nothing before it that it
/// could subtract from).
fn unary(out: &[Tok]) -> bool {
    !matches!(
        out.iter().rev().nth(1),
        Some(Tok::Word(_) | Tok::Num(_) | Tok::Str(_))
    )
}

fn render(toks: &[Tok]) -> String {
    let mut s = String::new();
    for tok in toks {
        let text = match tok {
            Tok::Word(w) | Tok::Num(w) | Tok::Punct(w) => w.clone(),
            Tok::Str(v) => format!("'{}'", v.replace('\'', "''")),
        };
        if !s.is_empty() && text != "," {
            s.push(' ');
        }
        s.push_str(&text);
    }
    s
}

// ---------------------------------------------------------------------------
// SQLite

async fn sqlite_facts(c: &mut AnyConnection) -> Facts {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "select name, sql from sqlite_master where type = 'table' \
         and name not like 'sqlite\\_%' escape '\\' and name <> '_sqlx_migrations' order by name",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read sqlite_master");
    let mut facts = Facts::new();
    for (table, sql) in tables {
        let mut f = BTreeMap::new();
        let create = parse_create_table(&sql);
        sqlite_columns(c, &table, &create, &mut f).await;
        for check in &create.checks {
            add_counted(&mut f, format!("check {}", render(&normal_expr(check))));
        }
        sqlite_indexes(c, &table, &mut f).await;
        sqlite_foreign_keys(c, &table, &mut f).await;
        sqlite_triggers(c, &table, &mut f).await;
        facts.insert(table, f);
    }
    facts
}

/// What only the `create table` text tells on SQLite.
#[derive(Default)]
struct CreateTable {
    autoincrement: BTreeSet<String>,
    checks: Vec<Vec<Tok>>,
    without_rowid: bool,
}

fn parse_create_table(sql: &str) -> CreateTable {
    let toks = tokenize(sql);
    let mut out = CreateTable::default();
    let Some(open) = toks.iter().position(|t| *t == Tok::Punct("(".to_owned())) else {
        return out;
    };
    let (defs, end) = split_definitions(&toks, open + 1);
    out.without_rowid = toks[end..].contains(&Tok::Word("rowid".to_owned()));
    for def in defs {
        let column = match def.first() {
            Some(Tok::Word(w))
                if !matches!(
                    w.as_str(),
                    "constraint" | "primary" | "unique" | "check" | "foreign"
                ) =>
            {
                Some(w.clone())
            }
            _ => None,
        };
        if let Some(col) = &column
            && def.contains(&Tok::Word("autoincrement".to_owned()))
        {
            out.autoincrement.insert(col.clone());
        }
        for (i, tok) in def.iter().enumerate() {
            if *tok == Tok::Word("check".to_owned())
                && def.get(i + 1) == Some(&Tok::Punct("(".to_owned()))
            {
                out.checks.push(balanced(&def, i + 1));
            }
        }
    }
    out
}

/// Splits a definition list at its top-level commas, from `start` (just
/// inside the opening parenthesis) to the closing one; also returns the
/// index after it.
fn split_definitions(toks: &[Tok], start: usize) -> (Vec<Vec<Tok>>, usize) {
    let mut defs = vec![Vec::new()];
    let mut depth = 0;
    let mut i = start;
    while i < toks.len() {
        let tok = &toks[i];
        i += 1;
        match tok {
            Tok::Punct(p) if p == "(" => depth += 1,
            Tok::Punct(p) if p == ")" && depth == 0 => break,
            Tok::Punct(p) if p == ")" => depth -= 1,
            Tok::Punct(p) if p == "," && depth == 0 => {
                defs.push(Vec::new());
                continue;
            }
            _ => {}
        }
        defs.last_mut().unwrap().push(tok.clone());
    }
    (defs, i)
}

/// The tokens inside the parenthesis that opens at `open`.
fn balanced(toks: &[Tok], open: usize) -> Vec<Tok> {
    let (mut inner, _) = split_definitions(toks, open + 1);
    let mut out = inner.remove(0);
    for def in inner {
        out.push(Tok::Punct(",".to_owned()));
        out.extend(def);
    }
    out
}

async fn sqlite_columns(
    c: &mut AnyConnection,
    table: &str,
    create: &CreateTable,
    f: &mut BTreeMap<String, String>,
) {
    let rows: Vec<(String, String, i64, Option<String>, i64)> = sqlx::query_as(
        "select name, type, \"notnull\", dflt_value, pk from pragma_table_info($1) order by cid",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .expect("read pragma_table_info");
    let pk_columns = rows.iter().filter(|r| r.4 > 0).count();
    let mut pk: Vec<(i64, String)> = Vec::new();
    let columns: Vec<Column> = rows
        .into_iter()
        .map(|(name, ty, notnull, default, pk_pos)| {
            // A single `integer primary key` is the rowid, never NULL; so is
            // every primary key column of a `without rowid` table.
            let rowid = pk_pos > 0 && pk_columns == 1 && ty.eq_ignore_ascii_case("integer");
            let not_null = notnull != 0 || rowid || (pk_pos > 0 && create.without_rowid);
            if pk_pos > 0 {
                pk.push((pk_pos, name.clone()));
            }
            Column {
                generated: create.autoincrement.contains(&name.to_lowercase()),
                name,
                declared_type: ty,
                nullable: !not_null,
                default,
            }
        })
        .collect();
    add_columns(f, &columns);
    pk.sort();
    if !pk.is_empty() {
        let names: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();
        f.insert("primary key".to_owned(), format!("({})", names.join(", ")));
    }
}

async fn sqlite_indexes(c: &mut AnyConnection, table: &str, f: &mut BTreeMap<String, String>) {
    let list: Vec<(String, i64, String)> =
        sqlx::query_as("select name, \"unique\", origin from pragma_index_list($1) order by name")
            .bind(table)
            .fetch_all(&mut *c)
            .await
            .expect("read pragma_index_list");
    for (name, unique, origin) in list {
        let cols: Vec<(Option<String>,)> =
            sqlx::query_as("select name from pragma_index_info($1) order by seqno")
                .bind(&name)
                .fetch_all(&mut *c)
                .await
                .expect("read pragma_index_info");
        let cols: Vec<String> = cols
            .into_iter()
            .map(|(n,)| n.unwrap_or_else(|| "(expression)".to_owned()))
            .collect();
        match origin.as_str() {
            "pk" => {}
            "u" => {
                f.insert(
                    format!("unique ({})", cols.join(", ")),
                    "constraint".to_owned(),
                );
            }
            _ => {
                let (sql,): (Option<String>,) = sqlx::query_as(
                    "select sql from sqlite_master where type = 'index' and name = $1",
                )
                .bind(&name)
                .fetch_one(&mut *c)
                .await
                .expect("read index sql");
                let predicate = sql.as_deref().map(sqlite_predicate).unwrap_or_default();
                f.insert(
                    format!("index {name}"),
                    index_fact(&cols, unique != 0, &predicate),
                );
            }
        }
    }
}

/// The normalised `where` of a `create index` statement, or "".
fn sqlite_predicate(sql: &str) -> String {
    let toks = tokenize(sql);
    match toks
        .iter()
        .position(|t| *t == Tok::Word("where".to_owned()))
    {
        Some(i) => render(&normal_expr(&toks[i + 1..])),
        None => String::new(),
    }
}

async fn sqlite_foreign_keys(c: &mut AnyConnection, table: &str, f: &mut BTreeMap<String, String>) {
    type Row = (i64, String, String, Option<String>, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "select id, \"table\", \"from\", \"to\", on_update, on_delete \
         from pragma_foreign_key_list($1) order by id, seq",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .expect("read pragma_foreign_key_list");
    let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
    for (id, parent, from, to, on_update, on_delete) in rows {
        let key = keys.entry(id).or_insert_with(|| ForeignKey {
            parent,
            on_delete,
            on_update,
            ..ForeignKey::default()
        });
        key.from.push(from);
        // No column named: the parent's primary key (not used so far).
        key.to
            .push(to.unwrap_or_else(|| "(primary key)".to_owned()));
    }
    for key in keys.into_values() {
        add_foreign_key(f, &key);
    }
}

/// A foreign key as both backends describe it.
#[derive(Default)]
struct ForeignKey {
    from: Vec<String>,
    parent: String,
    to: Vec<String>,
    on_delete: String,
    on_update: String,
}

fn add_foreign_key(f: &mut BTreeMap<String, String>, key: &ForeignKey) {
    let mut name = format!("foreign key ({})", key.from.join(", "));
    while f.contains_key(&name) {
        name.push('\'');
    }
    f.insert(
        name,
        format!(
            "references {} ({}) on delete {} on update {}",
            key.parent,
            key.to.join(", "),
            key.on_delete.to_lowercase(),
            key.on_update.to_lowercase()
        ),
    );
}

async fn sqlite_triggers(c: &mut AnyConnection, table: &str, f: &mut BTreeMap<String, String>) {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select name, sql from sqlite_master where type = 'trigger' and tbl_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *c)
    .await
    .expect("read triggers");
    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, sql) in rows {
        events
            .entry(name)
            .or_default()
            .insert(sqlite_trigger_event(&sql));
    }
    add_triggers(f, &events);
}

/// `after update of a, b` from `create trigger name after update of b, a on t …`.
fn sqlite_trigger_event(sql: &str) -> String {
    let toks = tokenize(sql);
    let is = |i: usize, w: &str| toks.get(i) == Some(&Tok::Word(w.to_owned()));
    let mut i = toks
        .iter()
        .position(|t| *t == Tok::Word("trigger".to_owned()))
        .map_or(0, |i| i + 1);
    if is(i, "if") {
        i += 3;
    }
    i += 1; // the name
    if toks.get(i) == Some(&Tok::Punct(".".to_owned())) {
        i += 2;
    }
    let timing = if is(i, "instead") {
        i += 2;
        "instead of"
    } else if is(i, "after") {
        i += 1;
        "after"
    } else {
        if is(i, "before") {
            i += 1;
        }
        "before"
    };
    let event = match toks.get(i) {
        Some(Tok::Word(w)) => w.clone(),
        other => panic!("unreadable trigger at {other:?}: {sql}"),
    };
    let mut columns = Vec::new();
    if is(i + 1, "of") {
        i += 2;
        while let Some(Tok::Word(w)) = toks.get(i) {
            columns.push(w.clone());
            if toks.get(i + 1) != Some(&Tok::Punct(",".to_owned())) {
                break;
            }
            i += 2;
        }
    }
    trigger_event(timing, &event, &mut columns, true)
}

// ---------------------------------------------------------------------------
// PostgreSQL

async fn postgres_facts(c: &mut AnyConnection) -> Facts {
    let tables: Vec<(String,)> = sqlx::query_as(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = current_schema() and c.relkind in ('r', 'p') \
         and c.relname <> '_sqlx_migrations' order by 1",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read pg_class");
    let mut facts: Facts = tables
        .into_iter()
        .map(|(t,)| (t, BTreeMap::new()))
        .collect();
    postgres_columns(c, &mut facts).await;
    postgres_indexes(c, &mut facts).await;
    postgres_constraints(c, &mut facts).await;
    postgres_triggers(c, &mut facts).await;
    facts
}

async fn postgres_columns(c: &mut AnyConnection, facts: &mut Facts) {
    type Row = (String, String, String, bool, Option<String>, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "select table_name::text, column_name::text, data_type::text, is_nullable = 'YES', \
         column_default::text, is_identity = 'YES' \
         from information_schema.columns where table_schema = current_schema() \
         order by table_name, ordinal_position",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read information_schema.columns");
    let mut by_table: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for (table, name, ty, nullable, default, identity) in rows {
        let serial = default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
        by_table.entry(table).or_default().push(Column {
            name,
            declared_type: ty,
            nullable,
            default: if serial { None } else { default },
            generated: identity || serial,
        });
    }
    for (table, columns) in by_table {
        if let Some(f) = facts.get_mut(&table) {
            add_columns(f, &columns);
        }
    }
}

async fn postgres_indexes(c: &mut AnyConnection, facts: &mut Facts) {
    type Row = (String, String, bool, String, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "select t.relname::text, i.relname::text, ix.indisunique, \
         coalesce((select con.contype::text from pg_constraint con \
             where con.conindid = ix.indexrelid and con.conrelid = ix.indrelid \
             and con.contype in ('p', 'u', 'x') limit 1), ''), \
         coalesce(pg_get_expr(ix.indpred, ix.indrelid), ''), \
         coalesce((select string_agg(coalesce(a.attname::text, '(expression)'), ',' order by k.ord) \
             from unnest(ix.indkey::int2[]) with ordinality k(attnum, ord) \
             left join pg_attribute a on a.attrelid = ix.indrelid and a.attnum = k.attnum \
             where k.ord <= ix.indnkeyatts), '') \
         from pg_index ix join pg_class i on i.oid = ix.indexrelid \
         join pg_class t on t.oid = ix.indrelid join pg_namespace n on n.oid = t.relnamespace \
         where n.nspname = current_schema() order by 1, 2",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read pg_index");
    for (table, name, unique, constraint, predicate, columns) in rows {
        let Some(f) = facts.get_mut(&table) else {
            continue;
        };
        let cols: Vec<String> = columns.split(',').map(str::to_owned).collect();
        match constraint.as_str() {
            "p" => {
                f.insert("primary key".to_owned(), format!("({})", cols.join(", ")));
            }
            "u" => {
                f.insert(
                    format!("unique ({})", cols.join(", ")),
                    "constraint".to_owned(),
                );
            }
            _ => {
                let predicate = render(&normal_expr(&tokenize(&predicate)));
                f.insert(
                    format!("index {name}"),
                    index_fact(&cols, unique, &predicate),
                );
            }
        }
    }
}

async fn postgres_constraints(c: &mut AnyConnection, facts: &mut Facts) {
    type Row = (String, String, String, String, String, String, String);
    let rows: Vec<Row> = sqlx::query_as(
        "select t.relname::text, con.contype::text, pg_get_constraintdef(con.oid)::text, \
         coalesce((select string_agg(a.attname::text, ',' order by k.ord) \
             from unnest(con.conkey) with ordinality k(attnum, ord) \
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum), ''), \
         coalesce((select r.relname::text from pg_class r where r.oid = con.confrelid), ''), \
         coalesce((select string_agg(a.attname::text, ',' order by k.ord) \
             from unnest(con.confkey) with ordinality k(attnum, ord) \
             join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum), ''), \
         con.confdeltype::text || con.confupdtype::text \
         from pg_constraint con join pg_class t on t.oid = con.conrelid \
         join pg_namespace n on n.oid = t.relnamespace \
         where n.nspname = current_schema() and con.contype in ('c', 'f') \
         order by 1, 2, 4, 3",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read pg_constraint");
    for (table, kind, def, from, parent, to, actions) in rows {
        let Some(f) = facts.get_mut(&table) else {
            continue;
        };
        if kind == "c" {
            add_counted(
                f,
                format!("check {}", render(&normal_expr(&tokenize(&def)))),
            );
            continue;
        }
        let mut actions = actions.chars().map(|a| match a {
            'a' => "no action",
            'r' => "restrict",
            'c' => "cascade",
            'n' => "set null",
            'd' => "set default",
            _ => "(unknown)",
        });
        let split = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        let key = ForeignKey {
            from: split(&from),
            parent,
            to: split(&to),
            on_delete: actions.next().unwrap_or_default().to_owned(),
            on_update: actions.next().unwrap_or_default().to_owned(),
        };
        add_foreign_key(f, &key);
    }
}

async fn postgres_triggers(c: &mut AnyConnection, facts: &mut Facts) {
    type Row = (String, String, String, String, bool, String);
    let rows: Vec<Row> = sqlx::query_as(
        "select t.event_object_table::text, t.trigger_name::text, t.action_timing::text, \
         t.event_manipulation::text, t.action_orientation = 'ROW', \
         coalesce((select string_agg(u.event_object_column::text, ',') \
             from information_schema.triggered_update_columns u \
             where u.trigger_schema = t.trigger_schema and u.trigger_name = t.trigger_name \
             and u.event_object_table = t.event_object_table), '') \
         from information_schema.triggers t where t.trigger_schema = current_schema() \
         order by 1, 2",
    )
    .fetch_all(&mut *c)
    .await
    .expect("read information_schema.triggers");
    let mut by_table: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (table, name, timing, event, per_row, columns) in rows {
        let mut columns: Vec<String> = if event.eq_ignore_ascii_case("update") {
            columns
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        } else {
            Vec::new()
        };
        let ev = trigger_event(&timing, &event, &mut columns, per_row);
        by_table
            .entry(table)
            .or_default()
            .entry(name)
            .or_default()
            .insert(ev);
    }
    for (table, events) in by_table {
        if let Some(f) = facts.get_mut(&table) {
            add_triggers(f, &events);
        }
    }
}

#[test]
fn expressions_normalise_alike_on_both_backends() {
    let pg = "CHECK ((role = ANY (ARRAY['admin'::text, 'owner'::text])))";
    let lite = "role in ('admin', 'owner')";
    let norm = |s: &str| render(&normal_expr(&tokenize(s)));
    assert_eq!(norm(pg), norm(lite));
    assert_eq!(norm(lite), "role in 'admin', 'owner'");
    assert_eq!(norm("CHECK ((id = 1))"), norm("id = 1"));
    assert_eq!(normalise_default("'-1'::integer", "integer"), "-1");
    assert_eq!(normalise_default("-1", "integer"), "-1");
    assert_eq!(normalise_default("0", "boolean"), "false");
    assert_eq!(normalise_default("''::text", "text"), "''");
    assert_eq!(normalise_default("'it''s'", "text"), "'it''s'");
    assert_eq!(
        sqlite_trigger_event(
            "create trigger x after update of state, first_seen on t when 1 begin end"
        ),
        "after update of first_seen, state"
    );
    assert_eq!(
        sqlite_trigger_event("create trigger if not exists x after update of a on t begin end"),
        "after update of a"
    );
    assert_eq!(
        sqlite_trigger_event("create trigger x delete on t begin end"),
        "before delete"
    );
    assert_eq!(
        sqlite_predicate("create index i on t (a) where state in ('a', 'b')"),
        norm("(state = ANY (ARRAY['a'::text, 'b'::text]))")
    );
}
