//! The command line: `migrate`, `--config`, `GATEWAY_*` variables.

use std::process::Output;

use diesel::{QueryDsl, QueryableByName};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use gateway_server::config::Settings;
use secrecy::ExposeSecret;

use crate::helpers::{TestDatabase, gateway_command, test_settings, unique_name};
use crate::peers::closed_port;

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("gateway binary runs")
}

/// Runs the command and checks it succeeded.
fn run_ok(command: &mut std::process::Command) {
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
}

/// The tables a migrated database holds.
const ALL_TABLES: [&str; 4] = [
    "Authentication",
    "FriendRequest",
    "UserProfile",
    "__diesel_schema_migrations",
];

async fn tables_of(settings: &Settings) -> Vec<String> {
    let mut conn = AsyncMysqlConnection::establish(settings.mysql.database_url().expose_secret())
        .await
        .expect("the database exists");
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    let mut names: Vec<String> = diesel::sql_query(
        "SELECT table_name AS table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .load::<Table>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|table| table.table_name)
    .collect();
    names.sort();
    names
}

#[tokio::test]
async fn migrate_creates_the_database_and_the_three_tables_and_is_repeatable() {
    let settings = test_settings();
    let _database = TestDatabase::new(&settings);
    for _ in 0..2 {
        run_ok(gateway_command(&settings).arg("migrate"));
    }
    assert_eq!(tables_of(&settings).await, ALL_TABLES);
}

#[tokio::test]
async fn migrate_adopts_a_database_made_by_the_old_gateway() {
    let settings = test_settings();
    let _database = TestDatabase::new(&settings);
    let name = &settings.mysql.database;
    crate::helpers::old_gateway_database(
        name,
        &[
            format!(
                "CREATE TABLE `{name}`.FriendRequest ( id INT AUTO_INCREMENT PRIMARY KEY, src_uuid INT NOT NULL, dst_uuid INT NOT NULL, nickname VARCHAR(255), message VARCHAR(255), status BOOL, FOREIGN KEY (src_uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE, FOREIGN KEY (dst_uuid) REFERENCES Authentication(uuid) ON DELETE CASCADE )"
            ),
            format!(
                "INSERT INTO `{name}`.Authentication (username, password, email) VALUES ('old', 'Plain-Text-99', 'old@example.com')"
            ),
            format!(
                "INSERT INTO `{name}`.FriendRequest (src_uuid, dst_uuid, nickname, message, status) VALUES (1, 1, 'me', 'hello', 0)"
            ),
        ],
    )
    .await;
    run_ok(gateway_command(&settings).arg("migrate"));
    assert!(
        tables_of(&settings)
            .await
            .contains(&"FriendRequest".to_string())
    );
    let mut conn = AsyncMysqlConnection::establish(settings.mysql.database_url().expose_secret())
        .await
        .unwrap();
    use gateway_server::db::schema::Authentication::dsl;
    let kept: i64 = dsl::Authentication
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, 1, "existing accounts are kept");
    use gateway_server::db::schema::FriendRequest;
    let requests: i64 = FriendRequest::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        requests, 1,
        "the existing FriendRequest table and its row are kept"
    );
}

#[tokio::test]
async fn migrate_fails_clearly_when_mysql_is_unreachable() {
    let mut settings = test_settings();
    settings.mysql.port = closed_port().await;
    let output = run(gateway_command(&settings).arg("migrate"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to MySQL at"), "{stderr}");
}

#[tokio::test]
async fn a_named_config_file_must_exist() {
    let settings = test_settings();
    let output =
        run(gateway_command(&settings).args(["--config", "/nonexistent/gateway.toml", "migrate"]));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/gateway.toml does not exist"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_config_file_is_read_and_variables_override_it() {
    let settings = test_settings();
    let from_file = unique_name("file");
    let dir = std::env::temp_dir().join(unique_name("cfg"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, format!("[mysql]\ndatabase = \"{from_file}\"\n")).unwrap();

    // Only the file names the database.
    let mut file_settings = settings.clone();
    file_settings.mysql.database = from_file.clone();
    let _file_database = TestDatabase::new(&file_settings);
    let mut command = gateway_command(&settings);
    command.env_remove("GATEWAY_MYSQL__DATABASE");
    run_ok(command.arg("--config").arg(&path).arg("migrate"));
    assert!(!tables_of(&file_settings).await.is_empty());

    // The variable wins over the file.
    let _env_database = TestDatabase::new(&settings);
    run_ok(
        gateway_command(&settings)
            .arg("--config")
            .arg(&path)
            .arg("migrate"),
    );
    assert!(!tables_of(&settings).await.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_up_down_and_up_again() {
    use diesel_async::AsyncMigrationHarness;
    use diesel_migrations::MigrationHarness;
    use gateway_server::db::migrations::{MIGRATIONS, prepare_database};

    let settings = test_settings();
    let _database = TestDatabase::new(&settings);
    prepare_database(&settings.mysql).await.expect("up");
    let tables = tables_of(&settings).await;
    assert!(tables.contains(&"Authentication".to_string()), "{tables:?}");

    let connection = AsyncMysqlConnection::establish(settings.mysql.database_url().expose_secret())
        .await
        .unwrap();
    let mut harness = AsyncMigrationHarness::new(connection);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let reverted = harness.revert_all_migrations(MIGRATIONS).expect("down");
    assert_eq!(reverted.len(), migrations);
    drop(harness);
    assert_eq!(
        tables_of(&settings).await,
        ["__diesel_schema_migrations"],
        "down drops the three tables"
    );

    let applied = prepare_database(&settings.mysql).await.expect("up again");
    assert_eq!(applied.len(), migrations);
    assert_eq!(tables_of(&settings).await, ALL_TABLES);
}

#[actix_web::test]
async fn openapi_prints_the_document_the_gateway_serves() {
    let app = crate::helpers::TestApp::spawn().await;
    let output = run(gateway_command(&app.settings).arg("openapi"));
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let served: serde_json::Value = app
        .request(reqwest::Method::GET, "/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(printed, served);
    assert!(printed["openapi"].as_str().unwrap().starts_with("3."));
    for path in crate::helpers::ENDPOINTS {
        assert!(printed["paths"][path]["post"].is_object(), "{path}");
    }
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(printed["paths"][path]["get"].is_object(), "{path}");
    }
}
