//! Rows as structs: what `#[derive(sqlx::FromRow)]` needs to read our two
//! backends through `sqlx::Any`, and the one way booleans are read.
//!
//! Through `sqlx::Any`, SQLite refuses a column declared `boolean` (its
//! driver has no Any mapping for it), so a boolean column is selected as
//! an expression, rendered by [`flag`], which both backends return as an
//! integer; the field is a `bool` read through [`Flag`]:
//!
//! ```ignore
//! #[derive(sqlx::FromRow)]
//! struct Row {
//!     #[sqlx(try_from = "Flag")]
//!     secret_link: bool,
//! }
//! // format!("select {} as secret_link from mail", flag("secret_link"))
//! ```

pub use patchport_core::view::Flag;

/// The SQL that selects the boolean `column` (or any boolean expression)
/// so both backends can return it: 1 for true, 0 for false.
pub fn flag(column: &str) -> String {
    format!("(case when {column} then 1 else 0 end)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[derive(Debug, PartialEq, sqlx::FromRow)]
    struct Pair {
        #[sqlx(try_from = "Flag")]
        yes: bool,
        #[sqlx(try_from = "Flag")]
        no: bool,
    }

    #[tokio::test]
    async fn flags_read_as_booleans_on_both_backends() {
        let dir = tempfile::tempdir().unwrap();
        for db in testing::backends(dir.path()).await {
            let mut conn = db.read().await.unwrap();
            let sql = format!("select {} as yes, {} as no", flag("1 = 1"), flag("1 = 2"));
            let row: Pair = sqlx::query_as(&sql).fetch_one(&mut *conn).await.unwrap();
            assert_eq!(
                row,
                Pair {
                    yes: true,
                    no: false
                }
            );
            // A boolean the backend returns as such (PostgreSQL) or as an
            // integer (SQLite) reads the same.
            let plain: (Flag,) = sqlx::query_as("select 1 = 1")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(plain.0, Flag(true));
        }
    }
}
