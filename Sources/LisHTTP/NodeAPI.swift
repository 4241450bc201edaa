/// What the HTTP API needs from a node. The node runtime implements it; tests use a fake.
///
/// Each method is one endpoint of `LisHTTPRoutes.router`. Methods that change the cluster
/// validate their input (`VolumeRequestValidation` has the shared rules) and throw `APIError`
/// with the status and a message for people; the router renders it as `{"error": "…"}`.
public protocol NodeAPI: Sendable {
    /// `GET /v1/status`.
    func status() async -> NodeStatus
    /// `GET /v1/volumes`: every volume, sorted by name.
    func listVolumes() async -> [VolumeInfo]
    /// `GET /v1/volumes/{name}`: nil becomes 404.
    func volume(named: String) async -> VolumeInfo?
    /// `POST /v1/volumes`: answered with 201 and the new volume.
    func createVolume(_ request: CreateVolumeRequest) async throws(APIError) -> VolumeInfo
    /// `DELETE /v1/volumes/{name}`: answered with 204.
    func deleteVolume(named: String) async throws(APIError)
    /// `POST /v1/volumes/{name}/resize`: answered with 200 and the volume after the resize.
    func resizeVolume(named: String, _ request: ResizeVolumeRequest) async throws(APIError) -> VolumeInfo
    /// `POST /v1/volumes/{name}/pin`: answered with 200 and the volume after the change.
    func pinVolume(named: String, _ request: PinVolumeRequest) async throws(APIError) -> VolumeInfo
    /// `GET /v1/cluster`: members, measured round trips, this node's leases and peers.
    func cluster() async throws(APIError) -> ClusterInfo
    /// `GET /v1/moves`: the blocks that moved to this node lately, oldest first.
    func moves() async -> [MoveInfo]
    /// `GET /v1/faults`: the faults switched on (WAN emulation only).
    func faults() async throws(APIError) -> FaultSwitches
    /// `PUT /v1/faults`: replaces them; answered with the faults now in force.
    func setFaults(_ faults: FaultSwitches) async throws(APIError) -> FaultSwitches
    /// `POST /v1/blocks/move`: an operator's move; answered with 202 and the node that takes
    /// the blocks.
    func moveBlocks(_ request: MoveBlocksRequest) async throws(APIError) -> MoveBlocksAccepted
    /// `GET /v1/volumes/{name}/blocks`: the volume's lease records.
    func blocks(ofVolume name: String) async throws(APIError) -> VolumeBlocks
    /// `GET /v1/policy`: the placement policy and whether it is paused on this node now.
    func policy() async -> PolicyInfo
    /// `PUT /v1/policy`: pauses or resumes placement on every node; answered with this node's.
    func setPolicy(_ request: SetPolicyRequest) async throws(APIError) -> PolicyInfo
    /// `GET /v1/nodes/{node}`: whether the node is drained and what it still holds.
    func node(named: String) async throws(APIError) -> NodeDrainInfo
    /// `POST /v1/nodes/{node}/drain` (`drained`) and `/undrain`: marks the node in Hive; a drain
    /// also asks other nodes to take every block it holds (202).
    func drainNode(named: String, drained: Bool) async throws(APIError) -> NodeDrainInfo
    /// `GET /metrics`: the node's metrics in Prometheus's text format (`Metrics.text()`).
    func metrics() async -> String
}
