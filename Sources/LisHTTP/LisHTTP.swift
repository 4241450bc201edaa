// LisHTTP: the node's JSON API as Hummingbird routes over `NodeAPI`, an interface the node
// runtime implements. The module never starts a server by itself: the caller builds the
// `Application` (see `LisHTTPRoutes.application`) and runs it in its service group.
//
// Files: NodeAPI.swift (the interface), APITypes.swift (the JSON bodies), SizeValue.swift,
// APIError.swift (errors as `{"error": "…"}`), RequestDecoding.swift (400s that say what is
// expected), VolumeRequestValidation.swift (shared by the node and the CLI), LisHTTPRoutes.swift.
