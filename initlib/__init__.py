"""initlib: how weight initialization decides whether gradients vanish, explode or flow.

The package contains the pieces that the notebooks in notebooks/ call: MNIST provisioning
(data), the MLP builder (models), the initialization registry (schemes), the plain and
stacked trainers (train, stacked), parameter validation (params), results files (results),
statistics (stats) and figures (plots).
"""

__version__ = "0.1.0"
