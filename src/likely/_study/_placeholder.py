"""PLACEHOLDER: replaced by the study helper."""


class Study:
    pass


def study(*args, **kwargs):
    raise NotImplementedError
