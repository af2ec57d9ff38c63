"""Model families: each module holds one nn.Module (with PyTorchModelHubMixin) and its config."""
