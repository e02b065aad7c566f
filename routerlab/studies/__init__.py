"""The code behind each experiment file: configs, run and report functions."""
