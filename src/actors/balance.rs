use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture, Supervised};

use super::fault::{Faults, accepts_injected_faults};
use super::guard::{Guarded, Panicked, guarded};
use super::{
    ActorKind, BACKEND_PROBE_WAIT, BackendState, Health, Probe, StartError, restarts_on_request,
};
use crate::config::Settings;
use crate::grpc::proto::balancer_service_client::BalancerServiceClient;
use crate::grpc::proto::{PeerListsRequest, RegisterToBalancer};
use crate::grpc::{PeerChannel, lazy_channel};
use crate::metrics::Metrics;
use crate::status::Status;

/// Owns the balance service's channel.
pub struct BalanceActor {
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    balancer: BalancerServiceClient<PeerChannel>,
    faults: Faults,
}

/// Where a user is to connect, as the balance service chose it.
pub struct ChatServerLease {
    pub host: String,
    pub port: String,
    /// A credential for the chat server: never printed.
    pub token: String,
}

impl std::fmt::Debug for ChatServerLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServerLease")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    #[error("balance service call failed: {0}")]
    Unreachable(tonic::Status),
    #[error("balance service answered {0:?}")]
    Refused(Status),
    #[error("balance service answered unknown error {0}")]
    Foreign(i32),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

impl BalanceActor {
    pub fn new(settings: Arc<Settings>, metrics: Arc<Metrics>) -> Result<Self, StartError> {
        let balancer = Self::build(&settings)?;
        Ok(Self {
            settings,
            metrics,
            balancer,
            faults: Faults::default(),
        })
    }

    fn build(settings: &Settings) -> Result<BalancerServiceClient<PeerChannel>, StartError> {
        let channel = lazy_channel(settings.balance.uri(&settings.grpc), &settings.grpc)?;
        Ok(BalancerServiceClient::new(channel))
    }
}

impl Actor for BalanceActor {
    type Context = Context<Self>;
}

impl Guarded for BalanceActor {
    const KIND: ActorKind = ActorKind::Balance;
    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

accepts_injected_faults!(BalanceActor);
restarts_on_request!(BalanceActor);

impl Supervised for BalanceActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.faults.check_restart();
        self.metrics.actor_restarted("balance");
        match Self::build(&self.settings) {
            Ok(balancer) => {
                self.balancer = balancer;
                log::warn!("balance actor restarted with a new channel");
            }
            Err(error) => log::error!("balance actor restarted, keeping its channel: {error}"),
        }
    }
}

impl Handler<Probe> for BalanceActor {
    type Result = ResponseFuture<Vec<Health>>;

    /// The balance service answers a read-only call (any gRPC answer, even
    /// UNIMPLEMENTED from a peer without that method, proves it is there).
    fn handle(&mut self, _: Probe, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |_| Health::all_down(&["balance"]),
            |actor, _| {
                let mut client = actor.balancer.clone();
                Box::pin(async move {
                    let request = PeerListsRequest {
                        cur_server: String::new(),
                    };
                    // A service that refuses our token answers, but serves us
                    // nothing: this instance's settings are wrong.
                    let answer = tokio::time::timeout(
                        BACKEND_PROBE_WAIT,
                        client.get_peer_grpc_server_info(request),
                    );
                    let state = match answer.await {
                        Err(_) => BackendState::Down,
                        Ok(Ok(_)) => BackendState::Up,
                        Ok(Err(status)) => match status.code() {
                            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => {
                                BackendState::RefusesUs
                            }
                            tonic::Code::Unavailable
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Cancelled => BackendState::Down,
                            _ => BackendState::Up,
                        },
                    };
                    vec![Health {
                        component: "balance",
                        state,
                    }]
                })
            },
        )
    }
}

/// Asks for the least-loaded chat server and the user's token there.
#[derive(Message)]
#[rtype(result = "Result<ChatServerLease, BalanceError>")]
pub struct AllocateChatServer {
    pub uuid: i32,
}

impl Handler<AllocateChatServer> for BalanceActor {
    type Result = ResponseFuture<Result<ChatServerLease, BalanceError>>;

    fn handle(&mut self, message: AllocateChatServer, ctx: &mut Context<Self>) -> Self::Result {
        guarded(
            self,
            ctx,
            |panicked| Err(panicked.into()),
            |actor, _| {
                let mut client = actor.balancer.clone();
                Box::pin(async move {
                    let reply = client
                        .add_new_user_to_server(RegisterToBalancer { uuid: message.uuid })
                        .await
                        .map_err(BalanceError::Unreachable)?
                        .into_inner();
                    match Status::from_code(reply.error) {
                        Some(Status::Success) => Ok(ChatServerLease {
                            host: reply.host,
                            port: reply.port,
                            token: reply.token,
                        }),
                        Some(status) => Err(BalanceError::Refused(status)),
                        None => Err(BalanceError::Foreign(reply.error)),
                    }
                })
            },
        )
    }
}
