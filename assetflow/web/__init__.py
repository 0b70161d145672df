"""The local web page (`assetflow ui`): a stdlib HTTP server over the application layer, and
static files (vanilla JavaScript: no Node toolchain, works offline)."""
