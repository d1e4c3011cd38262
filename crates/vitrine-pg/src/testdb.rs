//! A PostgreSQL database of its own for one test, created on the server
//! at `VITRINE_TEST_POSTGRES` and dropped afterwards: a test aid shared by
//! the tests of every crate with a PostgreSQL store, and the CLI's.

/// A PostgreSQL database of its own for one test, dropped at the end; on
/// the server at `VITRINE_TEST_POSTGRES` (key=value form), default
/// 127.0.0.1:5432 as user postgres, as on the project's CI machine.
pub struct TestDatabase {
    admin: String,
    name: String,
}

impl TestDatabase {
    /// Creates it (a name of this process and this instant).
    pub fn create() -> TestDatabase {
        let admin = std::env::var("VITRINE_TEST_POSTGRES")
            .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".into());
        let name = format!(
            "vitrine_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Self::client(&admin)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating the test database");
        TestDatabase { admin, name }
    }

    /// Its connection string.
    pub fn url(&self) -> String {
        format!(
            "{} dbname={}",
            self.admin.replace("dbname=postgres", ""),
            self.name
        )
    }

    /// Cuts every connection to it and refuses new ones (`allow` false),
    /// or lets them in again: the database "goes away" for the programs
    /// using it while the test keeps it.
    pub fn allow_connections(&self, allow: bool) {
        let mut admin = Self::client(&self.admin);
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS {allow}",
                self.name
            ))
            .unwrap();
        if !allow {
            admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    &[&self.name],
                )
                .unwrap();
        }
    }

    /// A client connected to it.
    pub fn connect(&self) -> postgres::Client {
        Self::client(&self.url())
    }

    fn client(url: &str) -> postgres::Client {
        postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at `{url}` is needed for this test (set VITRINE_TEST_POSTGRES \
                 to another server): {e}"
            )
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Self::client(&self.admin).batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
