from __future__ import annotations

from django import forms

from ..conf import library_settings


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=True,
        label="Name",
        help_text="Where you will use it, e.g. 'laptop' or 'cluster login node'.",
    )
    expires_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=36500,
        label="Expires after (days)",
        help_text="Leave empty for a token that does not expire.",
    )
    scope = forms.ChoiceField(
        choices=[("write", "Read and write: pull, push, tag, delete"), ("read", "Read only: pull and search")],
        initial="write",
        required=False,
        label="Access",
        widget=forms.RadioSelect,
        help_text="A read-only token cannot push, tag, delete, freeze or change settings, whatever your rights.",
    )

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or "write"

    def clean_expires_days(self) -> int | None:
        value = self.cleaned_data.get("expires_days")
        limit = library_settings.TOKEN_MAX_EXPIRY_DAYS
        if limit:
            if value is None:
                return int(limit)
            if value > limit:
                raise forms.ValidationError(f"Tokens on this site expire after at most {limit} days.")
        return value


class SearchForm(forms.Form):
    q = forms.CharField(
        max_length=256,
        required=False,
        label="Search",
        help_text="Entity, collection or container names, descriptions, or an image hash.",
    )


class PrivacyForm(forms.Form):
    private = forms.TypedChoiceField(
        choices=[("0", "Public: anyone can see and pull"), ("1", "Private: only owners and collaborators")],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        label="Visibility",
    )


class CollaboratorAddForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("user", "User"), ("team", "Team")],
        initial="user",
        widget=forms.RadioSelect,
        label="Add a",
    )
    name = forms.CharField(max_length=150, label="Username or team name")
    role = forms.ChoiceField(
        choices=[("collaborator", "Collaborator: may see and pull"), ("owner", "Owner: may also push, tag and delete")],
        initial="collaborator",
        label="Role",
    )


class CollaboratorRemoveForm(forms.Form):
    kind = forms.ChoiceField(choices=[("user", "User"), ("team", "Team")])
    pk = forms.IntegerField(min_value=1)


class TagFreezeForm(forms.Form):
    tag = forms.CharField(max_length=128)
    arch = forms.CharField(max_length=16)
    frozen = forms.TypedChoiceField(choices=[("1", "freeze"), ("0", "unfreeze")], coerce=lambda value: value == "1")


class ReadOnlyForm(forms.Form):
    read_only = forms.TypedChoiceField(
        choices=[("1", "read-only"), ("0", "writable")], coerce=lambda value: value == "1"
    )
