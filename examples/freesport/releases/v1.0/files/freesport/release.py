"""The release of the application code (shown by GET /api/health/)."""
RELEASE = '1.0'
