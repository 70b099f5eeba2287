"""Request and response shapes of sign-in, sessions and devices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from server.core.inputs import Input, Text
from server.core.schemas import ApiModel, DeviceIn, RoleName


class LoginRequest(ApiModel):
    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: Text = Field(min_length=1, max_length=1024)
    device: DeviceIn = Field(default_factory=DeviceIn)
    device_token: Text | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="The deviceToken of an earlier sign-in, for a client without a cookie "
        "jar (a browser sends the tinedy_device cookie instead): the attempt is throttled "
        "on that device's own budget, not its address's.",
    )


class RefreshRequest(ApiModel):
    refresh_token: Text | None = Field(None, min_length=1, max_length=4096)


class UserOut(ApiModel):
    id: str
    name: str
    role: RoleName
    team_id: str | None
    locale: Literal["th", "en"]


class LoginResponse(ApiModel):
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserOut
    device_token: str | None = Field(
        None,
        description="Sign-in only: this device's cookie for the account (also set as the "
        "tinedy_device cookie), valid a year; send it back as deviceToken when signing in.",
    )


class OfflineKeyOut(ApiModel):
    algorithm: Literal["AES-GCM"]
    key: str = Field(description="32 bytes, base64url without padding.")
    key_id: str
    user_id: str = Field(description="Whose key: the app binds what it seals to this person.")
    issued_at: datetime = Field(
        description="The server's time: kept data is shown offline for 48 hours from it."
    )


NewPassword = Annotated[Text, Field(min_length=8, max_length=128)]


class SetPasswordRequest(Input):
    token: Text = Field(min_length=1, max_length=256)
    password: NewPassword


class ForgotPasswordRequest(Input):
    email: Text = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")


class ChangePasswordRequest(Input):
    current_password: Text = Field(min_length=1, max_length=1024)
    new_password: NewPassword


class InviteLinkOut(ApiModel):
    invite_url: str = Field(description="One-time: <base>/set-password#token=<token>.")
    expires_at: datetime


class ResetLinkOut(ApiModel):
    reset_url: str = Field(description="One-time: <base>/set-password#token=<token>.")
    expires_at: datetime
