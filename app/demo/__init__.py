"""The demo: the service's main job on embedded defaults, end to end over real HTTP."""
