"""PLACEHOLDER: replaced by the choice helper."""


def conditional_logit(*args, **kwargs):
    raise NotImplementedError


def nested_logit(*args, **kwargs):
    raise NotImplementedError


def mixed_logit(*args, **kwargs):
    raise NotImplementedError


def long_from_wide(*args, **kwargs):
    raise NotImplementedError
