// The node runtime module.
