"""Configuration: typed settings, the file plan and scan lines, and their YAML data."""
