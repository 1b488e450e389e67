//! Fresh databases for tests, one per test, on either back end.
//!
//! SQLite databases are files in a temporary directory. PostgreSQL databases
//! are created on the server named by `HOLDFAST_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) with a unique name, and
//! dropped when the [`TestDatabase`] is dropped. When that server cannot be
//! reached the PostgreSQL tests are skipped with a loud message, except under
//! `CI=true`, where an unreachable PostgreSQL fails the test: CI can never
//! pass without exercising it.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection};

/// Which back end a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// The PostgreSQL server tests use.
pub fn postgres_server_url() -> String {
    std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to hand to Holdfast.
    pub url: String,
    /// The directory holding SQLite files and a KEK, removed on drop.
    pub dir: PathBuf,
    pg_name: Option<String>,
}

impl TestDatabase {
    /// Creates a fresh database, or returns `None` (after saying so on
    /// stderr) when PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is unreachable, and when a temporary
    /// directory cannot be made: both are environment failures a test must
    /// not hide.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("holdfast-test-{}", uuid::Uuid::new_v4().simple()));
        #[allow(clippy::expect_used)] // test set-up: failing loudly is the point
        std::fs::create_dir_all(&dir).expect("create temporary test directory");
        match backend {
            Backend::Sqlite => Some(Self {
                url: format!("sqlite://{}", dir.join("holdfast.db").display()),
                dir,
                pg_name: None,
            }),
            Backend::Postgres => {
                let server = postgres_server_url();
                let name = format!("holdfast_test_{}", uuid::Uuid::new_v4().simple());
                match PgConnection::connect(&server).await {
                    Ok(mut conn) => {
                        // The name is ours (hex only), so formatting it into SQL is safe.
                        let sql = format!("CREATE DATABASE {name}");
                        #[allow(clippy::expect_used)]
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await
                            .expect("CREATE DATABASE on the test PostgreSQL");
                        let _ = conn.close().await;
                        let mut url = url::Url::parse(&server).ok()?;
                        url.set_path(&format!("/{name}"));
                        Some(Self {
                            url: url.to_string(),
                            dir,
                            pg_name: Some(name),
                        })
                    }
                    Err(err) => {
                        let message = format!(
                            "PostgreSQL at {} is unreachable ({err}); PostgreSQL tests cannot run",
                            crate::redact_url(&server)
                        );
                        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                            panic!("{message} and CI=true forbids skipping them");
                        }
                        eprintln!(
                            "\n!!!!!!!! SKIPPED: {message}. Set HOLDFAST_TEST_POSTGRES_URL. !!!!!!!!\n"
                        );
                        let _ = std::fs::remove_dir_all(&dir);
                        None
                    }
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let server = postgres_server_url();
        // Drop may run inside a runtime; a plain thread with its own runtime
        // avoids blocking (or needing) the caller's.
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// Runs each named `async fn(Arc<dyn Store>)` as two tests, `sqlite::name`
/// and `postgres::name`, each on a fresh database of its own (a test
/// binary's own helpers stay in that binary).
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $crate::on_both_backends!(@backend sqlite, Sqlite, $($test),*);
        $crate::on_both_backends!(@backend postgres, Postgres, $($test),*);
    };
    (@backend $module:ident, $backend:ident, $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(db) =
                        $crate::testing::TestDatabase::create($crate::testing::Backend::$backend).await
                    else {
                        return;
                    };
                    let store = $crate::connect(&db.url).await.expect("connect and migrate");
                    super::$test(store).await;
                }
            )*
        }
    };
}
