"""The FastAPI app: thin routes over the `forecast` library, and the managers' dashboard."""
