//! openraft's view of the peer transport: one [`PeerLink`] per target member, all
//! sharing the [`Peers`] registry's connections with the server's own requests.
//!
//! A member's address comes from this member's zoo.cfg when it lists the target, and
//! from the Raft membership otherwise (members added by reconfig). Each member reading
//! its own file is what lets a test put a fault-injecting proxy on one directed link.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use parking_lot::Mutex;

use super::peer::{PeerClient, Request, Response};
use super::snapshot::SnapshotData;
use super::transport::PeerTransport;
use super::{TypeConfig, Vote};

type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// Floor for Raft RPC timeouts: openraft derives them from the heartbeat interval,
/// which is too tight for an fsync on a busy disk.
const MIN_RPC_TIMEOUT: Duration = Duration::from_millis(1000);

/// Outgoing links to the other members, by id.
pub struct Peers {
    me: u64,
    configured: BTreeMap<u64, String>,
    transport: PeerTransport,
    clients: Mutex<HashMap<u64, Arc<PeerClient>>>,
}

impl Peers {
    pub fn new(me: u64, configured: BTreeMap<u64, String>, transport: PeerTransport) -> Peers {
        Peers {
            me,
            configured,
            transport,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// How this member connects to the others (plain or `sslQuorum` TLS); the peer
    /// server accepts with the same settings.
    pub fn transport(&self) -> &PeerTransport {
        &self.transport
    }

    /// The link to `id`, as it is: the hot path of every forwarded write, so no address
    /// is looked up or parsed when the link exists. A new link goes to `id`'s zoo.cfg
    /// address, else to `membership_addr()` (members added by reconfig).
    pub fn client(
        &self,
        id: u64,
        membership_addr: impl FnOnce() -> Option<String>,
    ) -> Option<Arc<PeerClient>> {
        if let Some(client) = self.clients.lock().get(&id) {
            return Some(client.clone());
        }
        let addr = self.configured.get(&id).cloned().or_else(membership_addr)?;
        Some(self.link_to(id, addr))
    }

    /// The link to `id` at `addr` (replacing one to an older address): what openraft
    /// asks for when it (re)starts replicating to a member. zoo.cfg's address wins.
    pub fn link(&self, id: u64, membership_addr: String) -> Arc<PeerClient> {
        let addr = self.configured.get(&id).cloned().unwrap_or(membership_addr);
        self.link_to(id, addr)
    }

    fn link_to(&self, id: u64, addr: String) -> Arc<PeerClient> {
        let mut clients = self.clients.lock();
        let client = clients.entry(id).or_insert_with(|| {
            Arc::new(PeerClient::new(
                self.me,
                addr.clone(),
                self.transport.clone(),
            ))
        });
        if client.addr() != addr {
            *client = Arc::new(PeerClient::new(self.me, addr, self.transport.clone()));
        }
        client.clone()
    }
}

/// The peer address of a membership node: it holds the member's `server.N` value (see
/// server::reconfig), or a bare `host:port`.
pub fn node_peer_addr(id: u64, node: &openraft::impls::BasicNode) -> String {
    crate::config::Member::parse(id, &node.addr)
        .map(|m| m.peer_addr())
        .unwrap_or_else(|_| node.addr.clone())
}

pub struct Network {
    pub peers: Arc<Peers>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &openraft::impls::BasicNode) -> PeerLink {
        PeerLink {
            target,
            client: Some(self.peers.link(target, node_peer_addr(target, node))),
        }
    }
}

pub struct PeerLink {
    target: u64,
    client: Option<Arc<PeerClient>>,
}

fn unreachable<E: std::fmt::Display>(e: E) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(e))
}

impl PeerLink {
    async fn call(
        &self,
        req: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<TypeConfig>> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| unreachable(format!("no address for member {}", self.target)))?;
        client
            .call(req, option.hard_ttl().max(MIN_RPC_TIMEOUT))
            .await
            .map_err(unreachable)
    }

    async fn vote_call(
        &self,
        req: Request,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(req, &option).await? {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::Network(NetworkError::from_string(e))),
            _ => Err(RPCError::Network(NetworkError::from_string(
                "mismatched response",
            ))),
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerLink {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(Request::Append(rpc), &option).await? {
            Response::Append(Ok(r)) => Ok(r),
            Response::Append(Err(e)) => Err(RPCError::Network(NetworkError::from_string(e))),
            _ => Err(RPCError::Network(NetworkError::from_string(
                "mismatched response",
            ))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.vote_call(Request::Vote(rpc), option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.vote_call(Request::PreVote(rpc), option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let Some(client) = self.client.clone() else {
            return Err(StreamingError::Unreachable(Unreachable::from_string(
                format!("no address for member {}", self.target),
            )));
        };
        let file = match snapshot.snapshot.into_file().await {
            Ok(file) => file,
            Err(e) => {
                return Err(StreamingError::Unreachable(Unreachable::from_string(
                    format!("cannot read the snapshot to send: {e}"),
                )))
            }
        };
        let send = client.send_snapshot(vote, snapshot.meta, file);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = send => match result {
                Ok(vote) => Ok(SnapshotResponse::new(vote)),
                Err(e) => Err(StreamingError::Unreachable(Unreachable::from_string(e))),
            },
        }
    }
}
