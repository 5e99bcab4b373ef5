"""The web console's static files (HTML, CSS, ES modules), served by api/routes_console.py."""
