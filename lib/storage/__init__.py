"""Storage: S3 through presigned URLs (`s3`), the team ledger beside the photos, thumbnails."""
