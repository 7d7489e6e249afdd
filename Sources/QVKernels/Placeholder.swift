import QVGraph
