//! The container deployment, run without a container engine: each role of
//! compose.yaml started as the image would start it — the Containerfile's
//! entrypoint and working directory with its Settings.toml, the image's
//! ENV, the compose env_file and `environment` with `${…}` taken from the
//! example `.env` — against local MySQL and a `redis-server --requirepass`
//! of the test's own. Only what a container network changes is changed:
//! service names become 127.0.0.1, container ports become free local
//! ports, and the database gets a name of the test's own.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::sql_query;
use diesel_async::RunQueryDsl;
use gateway_server::grpc::proto::balancer_service_client::BalancerServiceClient;
use serde::Deserialize;
use serde_json::{Value, json};
use yaml_serde::Value as Yaml;

use crate::backends::{OwnRedis, skip};
use crate::helpers::{RunningBinary, TestDatabase, account_body, test_settings, unique_name};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// `KEY=VALUE` lines of an env file (comments and blank lines skipped).
fn env_file(relative: &str) -> BTreeMap<String, String> {
    read(relative)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{relative}: not KEY=VALUE: {line}"));
            (key.trim().to_owned(), value.to_owned())
        })
        .collect()
}

/// Compose's interpolation: `${X}`, `${X:-default}`, `${X:?error}`, `$$`.
fn interpolate(text: &str, variables: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').expect("closed ${");
            let expression = &after[..end];
            rest = &after[end + 1..];
            let value = if let Some((name, default)) = expression.split_once(":-") {
                variables
                    .get(name)
                    .filter(|value| !value.is_empty())
                    .cloned()
                    .unwrap_or_else(|| default.to_owned())
            } else if let Some((name, message)) = expression.split_once(":?") {
                variables
                    .get(name)
                    .filter(|value| !value.is_empty())
                    .cloned()
                    .unwrap_or_else(|| panic!("compose would refuse: {message}"))
            } else {
                variables.get(expression).cloned().unwrap_or_default()
            };
            out.push_str(&value);
        } else {
            panic!("bare $ in {text:?}");
        }
    }
    out.push_str(rest);
    out
}

/// What the final stage of the Containerfile sets up.
struct Image {
    env: BTreeMap<String, String>,
    workdir: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    /// Files copied from the build context, by destination.
    copies: HashMap<String, String>,
    exposed: Vec<u16>,
    user: String,
}

fn image() -> Image {
    let text = read("Containerfile");
    let final_stage = text
        .rsplit_once("\nFROM ")
        .map(|(_, stage)| stage)
        .expect("a multi-stage Containerfile");
    let mut image = Image {
        env: BTreeMap::new(),
        workdir: "/".into(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        copies: HashMap::new(),
        exposed: Vec::new(),
        user: String::new(),
    };
    let json_array = |value: &str| -> Vec<String> {
        serde_json::from_str(value).expect("exec form: a JSON array")
    };
    for line in final_stage.lines().skip(1) {
        let Some((instruction, value)) = line.split_once(' ') else {
            continue;
        };
        match instruction {
            "ENV" => {
                for pair in value.split_whitespace() {
                    let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
                    image.env.insert(key.into(), value.into());
                }
            }
            "WORKDIR" => image.workdir = value.trim().into(),
            "ENTRYPOINT" => image.entrypoint = json_array(value),
            "CMD" => image.cmd = json_array(value),
            "USER" => image.user = value.trim().into(),
            "EXPOSE" => {
                image.exposed = value
                    .split_whitespace()
                    .map(|port| port.parse().unwrap())
                    .collect()
            }
            "COPY" if !value.starts_with("--from") => {
                let (source, destination) = value.split_once(' ').unwrap();
                image
                    .copies
                    .insert(destination.trim().into(), source.trim().into());
            }
            _ => {}
        }
    }
    image
}

/// compose.yaml with its `<<: *anchor` merges applied.
fn compose() -> Yaml {
    let mut compose: Yaml = yaml_serde::from_str(&read("compose.yaml")).unwrap();
    compose.apply_merge().unwrap();
    compose
}

fn strings(value: &Yaml) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A service's published `ports` (short form), interpolated.
fn published(service: &Yaml, variables: &BTreeMap<String, String>) -> Vec<String> {
    strings(&service["ports"])
        .iter()
        .map(|port| interpolate(port, variables))
        .collect()
}

/// The documents of a Kubernetes manifest (`---`-separated).
fn manifests(relative: &str) -> Vec<Yaml> {
    let text = read(relative);
    yaml_serde::Deserializer::from_str(&text)
        .map(|document| {
            Yaml::deserialize(document).unwrap_or_else(|error| panic!("{relative}: {error}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// The one document of `kind` in a Kubernetes manifest.
fn manifest(relative: &str, kind: &str) -> Yaml {
    manifests(relative)
        .into_iter()
        .find(|document| document["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("{relative} has no {kind}"))
}

/// The `app.kubernetes.io/name` a label selector matches ("" if none).
fn selected_name(selector: &Yaml) -> String {
    selector["matchLabels"]["app.kubernetes.io/name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A service's `environment` (mapping form), interpolated.
fn environment(service: &Yaml, variables: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let Some(mapping) = service["environment"].as_mapping() else {
        return BTreeMap::new();
    };
    mapping
        .iter()
        .map(|(key, value)| {
            let raw = match value {
                Yaml::String(text) => text.clone(),
                Yaml::Number(number) => number.to_string(),
                Yaml::Bool(flag) => flag.to_string(),
                Yaml::Null => String::new(),
                other => panic!("unexpected environment value {other:?}"),
            };
            (
                key.as_str().unwrap().to_owned(),
                interpolate(&raw, variables),
            )
        })
        .collect()
}

/// How the test's machine stands in for the compose network.
struct Network {
    /// Compose service names, which resolve to 127.0.0.1 here.
    services: Vec<String>,
    /// Container port → local port.
    ports: HashMap<u16, u16>,
    database: String,
}

/// The deployment files, read once.
struct Deployment {
    image: Image,
    compose: Yaml,
    /// The example `.env`.
    variables: BTreeMap<String, String>,
}

impl Deployment {
    fn load() -> Deployment {
        Deployment {
            image: image(),
            compose: compose(),
            variables: env_file("deploy/compose/example.env"),
        }
    }

    /// The environment the container of one role of compose.yaml gets:
    /// the image's ENV, then the `env_file`s, then `environment`.
    fn container_env(&self, name: &str) -> BTreeMap<String, String> {
        let service = &self.compose["services"][name];
        assert!(service.is_mapping(), "compose.yaml has no service {name}");
        let mut env = self.image.env.clone();
        let env_files = match &service["env_file"] {
            Yaml::String(file) => vec![file.clone()],
            other => strings(other),
        };
        for file in env_files {
            env.extend(env_file(&file));
        }
        env.extend(environment(service, &self.variables));
        env
    }

    /// One role of compose.yaml: its command line and environment, as the
    /// container would get them, then moved onto the local network.
    fn role(&self, name: &str, network: &Network, workdir: &Path) -> std::process::Command {
        let Deployment { image, compose, .. } = self;
        let mut env = self.container_env(name);
        let service = &compose["services"][name];
        assert_eq!(
            service["image"].as_str(),
            compose["services"]["gateway"]["image"].as_str()
        );
        for (key, value) in env.iter_mut() {
            if key.ends_with("__HOST") && network.services.contains(value) {
                *value = "127.0.0.1".into();
            }
            if key.ends_with("__PORT")
                && let Some(local) = value.parse().ok().and_then(|port| network.ports.get(&port))
            {
                *value = local.to_string();
            }
        }
        // The image's Settings.toml says 8080; the container's port is ours.
        env.insert(
            "GATEWAY_HTTP__PORT".into(),
            network.ports[&8080].to_string(),
        );
        env.insert("GATEWAY_MYSQL__DATABASE".into(), network.database.clone());

        let mut arguments = image.entrypoint.clone();
        assert_eq!(arguments.remove(0), "gateway-server");
        match strings(&service["command"]) {
            command if command.is_empty() => arguments.extend(image.cmd.clone()),
            command => arguments.extend(command),
        }
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gateway-server"));
        command
            .args(arguments)
            .env_clear()
            .envs(env)
            .current_dir(workdir);
        command
    }
}

#[test]
fn the_image_runs_the_gateway_as_a_non_root_user_with_its_settings() {
    let image = image();
    assert_eq!(image.entrypoint, ["gateway-server"]);
    assert_eq!(image.cmd, ["serve"]);
    assert_eq!(image.exposed, [8080, 65500, 59900, 59901]);
    assert!(
        !image.user.is_empty() && !image.user.starts_with("root") && !image.user.starts_with("0")
    );
    // The user and group it runs as exist by those numbers: the group is
    // made with its gid, not left to useradd's next free one.
    let (uid, gid) = image.user.split_once(':').expect("USER uid:gid");
    let text = read("Containerfile");
    let final_stage = text.rsplit_once("\nFROM ").unwrap().1.replace("\\\n", " ");
    assert!(
        final_stage.contains(&format!("groupadd --system --gid {gid} ")),
        "no group with gid {gid}"
    );
    assert!(
        final_stage.contains(&format!("--uid {uid} --gid {gid} ")),
        "the user is not made with uid {uid} and gid {gid}"
    );
    let settings_at = format!("{}/Settings.toml", image.workdir);
    assert_eq!(
        image.copies.get(&settings_at).map(String::as_str),
        Some("Settings.toml")
    );
    let compose = compose();
    for (service, command) in [
        ("migrate", "migrate"),
        ("verification", "verification"),
        ("balance", "balance"),
        ("gateway", "serve"),
    ] {
        assert_eq!(strings(&compose["services"][service]["command"]), [command]);
    }
    for backend in ["mysql", "redis"] {
        assert!(
            compose["services"][backend]["healthcheck"]["test"].is_sequence(),
            "{backend} has a health check"
        );
    }
}

#[test]
fn compose_publishes_mysql_and_redis_on_loopback_and_the_grpc_services_not_at_all() {
    let deployment = Deployment::load();
    let services = &deployment.compose["services"];
    for (backend, port) in [("mysql", 3306), ("redis", 6379)] {
        let ports = published(&services[backend], &deployment.variables);
        assert!(!ports.is_empty(), "{backend} is published");
        for mapping in ports {
            assert!(
                mapping.starts_with("127.0.0.1:") && mapping.ends_with(&format!(":{port}")),
                "{backend} is published on 127.0.0.1 only, not {mapping}"
            );
        }
    }
    // Reachable on the compose network only.
    for internal in ["verification", "balance"] {
        assert!(
            services[internal].is_mapping(),
            "compose.yaml has {internal}"
        );
        assert!(
            services[internal]["ports"].is_null() && services[internal]["network_mode"].is_null(),
            "{internal} is not published"
        );
    }
}

#[test]
fn the_compose_grpc_roles_share_one_token() {
    let deployment = Deployment::load();
    let tokens: Vec<String> = ["gateway", "verification", "balance"]
        .into_iter()
        .map(|service| {
            deployment
                .container_env(service)
                .remove("GATEWAY_GRPC__AUTH_TOKEN")
                .unwrap_or_else(|| panic!("{service} gets GATEWAY_GRPC__AUTH_TOKEN"))
        })
        .collect();
    assert!(!tokens[0].is_empty(), "the gRPC token is set");
    assert!(
        tokens.iter().all(|token| *token == tokens[0]),
        "one token for all: {tokens:?}"
    );
}

#[test]
fn every_kubernetes_grpc_role_gets_the_token_from_the_secret() {
    let secret = manifest("deploy/kubernetes/config.yaml", "Secret");
    let token = secret["stringData"]["GATEWAY_GRPC__AUTH_TOKEN"].as_str();
    assert!(
        token.is_some_and(|token| !token.is_empty()),
        "the Secret has the token"
    );
    let secret_name = secret["metadata"]["name"].as_str().expect("a named Secret");
    for (file, role) in [
        ("gateway.yaml", "serve"),
        ("verification.yaml", "verification"),
        ("balance.yaml", "balance"),
    ] {
        let deployment = manifest(&format!("deploy/kubernetes/{file}"), "Deployment");
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(strings(&container["args"]), [role]);
        assert!(
            container["envFrom"].as_sequence().is_some_and(|sources| {
                sources
                    .iter()
                    .any(|source| source["secretRef"]["name"].as_str() == Some(secret_name))
            }),
            "{file} takes the whole Secret with envFrom"
        );
    }
}

#[test]
fn the_network_policies_let_only_the_gateway_and_chat_servers_reach_the_grpc_ports() {
    let pods_of = |file: &str| -> String {
        let deployment = manifest(&format!("deploy/kubernetes/{file}"), "Deployment");
        selected_name(&deployment["spec"]["selector"])
    };
    // Port → (the pods it is open on, the pods it is open to).
    let mut open: BTreeMap<u64, (String, Vec<String>)> = BTreeMap::new();
    for policy in manifests("deploy/kubernetes/network-policy.yaml") {
        assert_eq!(policy["kind"].as_str(), Some("NetworkPolicy"));
        assert_eq!(policy["apiVersion"].as_str(), Some("networking.k8s.io/v1"));
        let pods = selected_name(&policy["spec"]["podSelector"]);
        for rule in policy["spec"]["ingress"].as_sequence().unwrap() {
            let from: Vec<String> = rule["from"]
                .as_sequence()
                .map(|peers| {
                    peers
                        .iter()
                        .map(|peer| selected_name(&peer["podSelector"]))
                        .collect()
                })
                .unwrap_or_default();
            for port in rule["ports"].as_sequence().unwrap() {
                let number = port["port"].as_u64().expect("a numeric port");
                open.insert(number, (pods.clone(), from.clone()));
            }
        }
    }
    let gateway = pods_of("gateway.yaml");
    assert_eq!(
        open.get(&65500),
        Some(&(pods_of("verification.yaml"), vec![gateway.clone()]))
    );
    // Chat servers are selected by the label the file asks operators to give them.
    assert_eq!(
        open.get(&59900),
        Some(&(
            pods_of("balance.yaml"),
            vec![gateway, "chat-server".to_owned()]
        ))
    );
}

#[actix_web::test]
async fn the_compose_roles_serve_a_registration_and_a_login() {
    let deployment = Deployment::load();
    let (compose, variables) = (&deployment.compose, &deployment.variables);
    let Some(redis) = OwnRedis::start_with_password(&variables["REDIS_PASSWORD"]) else {
        return skip("redis-server");
    };
    let mysql_env = environment(&compose["services"]["mysql"], variables);
    let password = &mysql_env["MYSQL_PASSWORD"];
    let database = unique_name("deploy");
    let mut settings = test_settings();
    settings.mysql.database = database.clone();
    let _database = TestDatabase::new(&settings);
    // What the mysql image does on its first start: the database and the
    // gateway's own account, allowed into that database only. The account's
    // name is global to the MySQL server: one of this run's own, dropped
    // whatever the outcome.
    sql_query(format!("CREATE DATABASE `{database}`"))
        .execute(&mut crate::helpers::mysql_admin().await)
        .await
        .unwrap();
    let name = format!("{}_{}", mysql_env["MYSQL_USER"], std::process::id());
    let user_guard = crate::helpers::MysqlUser::create(name, password, &database).await;
    let user = &user_guard.0;

    // The roles' own ports start at 0 (any free port, bound by the role
    // itself: no port is picked and released for a parallel test to take);
    // each is filled in from the role's log before the next role starts.
    let mut network = Network {
        services: compose["services"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|key| key.as_str().unwrap().to_owned())
            .collect(),
        ports: HashMap::from([
            (3306, settings.mysql.port),
            (6379, redis.port),
            (65500, 0),
            (59900, 0),
            // The balance role's /metrics: 0 turns it off here.
            (59901, 0),
            (8080, 0),
        ]),
        database: database.clone(),
    };
    // The image's working directory, holding what the image copies there.
    let root: PathBuf = std::env::temp_dir().join(unique_name("image"));
    let image = &deployment.image;
    let workdir = root.join(image.workdir.trim_start_matches('/'));
    std::fs::create_dir_all(&workdir).unwrap();
    std::fs::copy(
        Path::new(REPO).join(&image.copies[&format!("{}/Settings.toml", image.workdir)]),
        workdir.join("Settings.toml"),
    )
    .unwrap();

    let as_this_runs_user = |mut command: std::process::Command| {
        command.env("GATEWAY_MYSQL__USERNAME", user);
        command
    };
    let migrate = as_this_runs_user(deployment.role("migrate", &network, &workdir))
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let mut verification =
        RunningBinary::start(deployment.role("verification", &network, &workdir));
    let port = verification.port_after("verification service listening on ");
    network.ports.insert(65500, port);
    let mut balance = RunningBinary::start(deployment.role("balance", &network, &workdir));
    let port = balance.port_after("balance service listening on ");
    network.ports.insert(59900, port);
    let mut gateway = RunningBinary::start(as_this_runs_user(
        deployment.role("gateway", &network, &workdir),
    ));
    let port = gateway.port_after("gateway listening on ");
    network.ports.insert(8080, port);
    let address = format!("http://127.0.0.1:{}", network.ports[&8080]);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{address}/readyz")).send().await;
        if matches!(&ready, Ok(response) if response.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready: {ready:?}\n{}",
            gateway.stop()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A chat server announces itself to the balance service, as real ones do:
    // with the gRPC token of `.env`; without it the call is refused.
    let mut balancer =
        BalancerServiceClient::connect(format!("http://127.0.0.1:{}", network.ports[&59900]))
            .await
            .unwrap();
    let refused = balancer
        .register_chatting_server_instance(crate::balance_service::server("chat-0", "8091"))
        .await
        .expect_err("no token, no call");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    // A chat server that answers the balance service's probes.
    let chat = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let chat_port = chat.local_addr().unwrap().port().to_string();
    let mut register = tonic::Request::new(crate::balance_service::server("chat-1", &chat_port));
    register.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", variables["GRPC_AUTH_TOKEN"])
            .parse()
            .unwrap(),
    );
    let registered = balancer
        .register_chatting_server_instance(register)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.error, 0);

    let call = async |path: &str, body: Value| -> Value {
        crate::helpers::post_ok(&client, format!("{address}{path}"), &body).await
    };
    let email = "alice@example.com";
    assert_eq!(
        call("/get_verification", json!({"email": email})).await["error"],
        0
    );
    // compose keeps codes at the bare address, as the old services expect;
    // this Redis wants the password.
    let mut store = redis::Client::open(format!(
        "redis://:{}@127.0.0.1:{}/",
        variables["REDIS_PASSWORD"], redis.port
    ))
    .unwrap()
    .get_multiplexed_async_connection()
    .await
    .unwrap();
    let code: String = redis::cmd("GET")
        .arg(email)
        .query_async(&mut store)
        .await
        .unwrap();
    let password = "Wonder-Land-42-Deploy";
    let registration = call(
        "/post_registration",
        account_body("alice", email, password, &code),
    )
    .await;
    assert_eq!(registration["error"], 0, "{registration}");
    let login = call(
        "/trylogin_server",
        json!({"username": "alice", "password": password}),
    )
    .await;
    assert_eq!(login["error"], 0, "{login}");
    assert_eq!(
        (login["host"].as_str(), login["port"].as_str()),
        (Some("127.0.0.1"), Some(chat_port.as_str()))
    );

    drop((gateway, chat));
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn the_cluster_compose_file_runs_six_redis_nodes_and_two_balance_replicas() {
    let mut cluster: Yaml = yaml_serde::from_str(&read("deploy/compose/cluster.yaml")).unwrap();
    cluster.apply_merge().unwrap();
    let services = cluster["services"].as_mapping().unwrap();
    let nodes: Vec<String> = services
        .iter()
        .filter(|(_, service)| {
            strings(&service["command"])
                .join(" ")
                .contains("--cluster-enabled yes")
        })
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    for node in &nodes {
        let command = strings(&cluster["services"][node.as_str()]["command"]).join(" ");
        assert!(
            command.contains("--appendonly yes"),
            "{node} keeps its data"
        );
        assert!(
            command.contains("--masterauth"),
            "{node}'s replica can authenticate"
        );
    }
    let create = strings(&cluster["services"]["redis-cluster"]["command"]).join(" ");
    assert!(create.contains("--cluster create") && create.contains("--cluster-replicas 1"));
    for role in ["verification", "balance", "gateway"] {
        let service = &cluster["services"][role];
        let listed = service["environment"]["GATEWAY_REDIS__CLUSTER_NODES"]
            .as_str()
            .unwrap_or_else(|| panic!("{role} uses the cluster"));
        for node in listed.split(',') {
            let host = node.split(':').next().unwrap();
            assert!(nodes.iter().any(|name| name == host), "{role}: {node}");
        }
        assert_eq!(
            service["depends_on"]["redis-cluster"]["condition"].as_str(),
            Some("service_completed_successfully")
        );
    }
    assert_eq!(cluster["services"]["balance"]["scale"].as_u64(), Some(2));
    // Layered over compose.yaml: the roles it overrides exist there.
    let base = compose();
    for role in ["verification", "balance", "gateway"] {
        assert!(base["services"][role].is_mapping(), "{role}");
    }
}

#[test]
fn kubernetes_runs_two_balance_replicas_a_disruption_budget_and_a_redis_cluster() {
    let balance = manifest("deploy/kubernetes/balance.yaml", "Deployment");
    assert!(balance["spec"]["replicas"].as_u64().unwrap() >= 2);
    let budget = manifest("deploy/kubernetes/balance.yaml", "PodDisruptionBudget");
    assert_eq!(
        selected_name(&budget["spec"]["selector"]),
        selected_name(&balance["spec"]["selector"])
    );
    let available = budget["spec"]["minAvailable"].as_u64().unwrap();
    assert!((1..balance["spec"]["replicas"].as_u64().unwrap()).contains(&available));
    let settings = manifest("deploy/kubernetes/config.yaml", "ConfigMap");
    let nodes = settings["data"]["GATEWAY_REDIS__CLUSTER_NODES"]
        .as_str()
        .unwrap();
    assert!(
        nodes.split(',').count() >= 2 && nodes.split(',').all(|node| node.contains(':')),
        "{nodes}"
    );
}

/// The image builds from what its build stage copies: every file the
/// binary embeds (`include_str!`, outside tests) lies under a copied path.
#[test]
fn the_build_stage_copies_every_file_the_binary_embeds() {
    let text = read("Containerfile");
    let build_stage = text.split("\nFROM ").nth(1).unwrap();
    let copied: Vec<&str> = build_stage
        .lines()
        .filter_map(|line| line.strip_prefix("COPY "))
        .filter(|value| !value.starts_with("--from"))
        .flat_map(|value| {
            let mut parts: Vec<&str> = value.split_whitespace().collect();
            parts.pop();
            parts
        })
        .collect();
    let mut embedded = Vec::new();
    let mut pending = vec![Path::new(REPO).join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            // What tests embed (the README) is not built into the image.
            let shipped = source.split("#[cfg(test)]").next().unwrap();
            for quoted in shipped.split("include_str!(\"").skip(1) {
                let relative = quoted.split('"').next().unwrap();
                let file = path.parent().unwrap().join(relative);
                let file = file.canonicalize().unwrap();
                let inside = file
                    .strip_prefix(Path::new(REPO).canonicalize().unwrap())
                    .unwrap();
                embedded.push(inside.to_string_lossy().into_owned());
            }
        }
    }
    assert!(
        embedded.iter().any(|file| file.starts_with("pages/")),
        "{embedded:?}"
    );
    for file in &embedded {
        assert!(
            copied
                .iter()
                .any(|source| file == source || file.starts_with(&format!("{source}/"))),
            "{file} is embedded but the build stage does not copy it (copies {copied:?})"
        );
    }
}
