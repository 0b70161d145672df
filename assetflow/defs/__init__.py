"""The definitions layer: what a user declares in definitions/ (declare.py: @asset, @source,
schedule, file_sensor, code versions from the function's source) and loading a definitions
folder (loader.py). Above the core, below the store: any process that runs an asset's
function (a worker elsewhere included) loads definitions through here."""
