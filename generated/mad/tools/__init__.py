"""The tool gateway: namespaced tools ``mads.<mad>.<tool>`` with permissions and quotas, over MCP."""
