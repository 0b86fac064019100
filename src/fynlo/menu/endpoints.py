"""``/api/categories`` and ``/api/products`` (with modifier groups and availability)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from fynlo.auth.subject import Subject, require_permission
from fynlo.authz.context import CurrentRestaurant
from fynlo.kit.idempotency import idempotent
from fynlo.kit.money import to_major
from fynlo.kit.pagination import Page, PageParams, page_params
from fynlo.kit.routing import router
from fynlo.kit.schemas import Envelope, ok
from fynlo.kit.unit_of_work import SessionDep
from fynlo.menu.schemas import (
    AvailabilityUpdate,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    DietaryFlag,
    DietaryInfoOut,
    ModifierGroupOut,
    ModifierOptionOut,
    ProductCreate,
    ProductDeleted,
    ProductOut,
    ProductUpdate,
)
from fynlo.menu.service import (
    CategoryService,
    ProductService,
    ProductView,
    effective_kitchen_station,
)
from fynlo.models import Category, Product

categories_router = router(prefix="/api/categories", tags=["menu"])
products_router = router(prefix="/api/products", tags=["menu"])

ROUTERS: list[APIRouter] = [categories_router, products_router]

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Subject, Depends(require_permission("menu.read"))]
Manager = Annotated[Subject, Depends(require_permission("menu.manage"))]


def product_out(
    product: Product, category: Category, currency: str, *, show_cost: bool
) -> ProductOut:
    return ProductOut(
        id=product.id,
        restaurant_id=product.restaurant_id,
        name=product.name,
        description=product.description,
        price=to_major(product.price_minor, currency),
        cost_price=to_major(product.cost_price_minor, currency) if show_cost else None,
        category_id=product.category_id,
        category=category.name,
        subcategory=product.subcategory,
        image_url=product.image_url,
        barcode=product.barcode,
        is_available=product.is_available,
        is_archived=product.is_archived,
        dietary_info=DietaryInfoOut.model_validate(product.dietary_info or {}),
        tags=[str(tag) for tag in product.tags or []],
        preparation_time=product.preparation_time,
        kitchen_station=product.kitchen_station,
        effective_kitchen_station=effective_kitchen_station(product, category),
        sort_order=product.sort_order,
        tax_category=product.tax_category,
        takeaway_tax_category=product.takeaway_tax_category,
        modifiers=[
            ModifierGroupOut(
                id=group.id,
                name=group.name,
                min_choices=group.min_choices,
                max_choices=group.max_choices,
                sort_order=group.sort_order,
                options=[
                    ModifierOptionOut(
                        id=option.id,
                        name=option.name,
                        price=to_major(option.price_minor, currency),
                        is_available=option.is_available,
                        sort_order=option.sort_order,
                    )
                    for option in group.options
                ],
            )
            for group in product.modifier_groups
        ],
        version=product.version,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


def _view_out(view: ProductView, subject: Subject) -> ProductOut:
    return product_out(
        view.product,
        view.category,
        view.restaurant.currency,
        show_cost=subject.can("menu.manage"),
    )


# ---------------------------------------------------------------------------------------------
# Categories


@categories_router.get(
    "",
    response_model=Envelope[Page[CategoryOut]],
    summary="Categories of the menu (active ones unless includeArchived)",
)
async def list_categories(
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
) -> Envelope[Page[CategoryOut]]:
    rows, total = await CategoryService(session, subject).list(
        restaurant, paging, include_archived=include_archived
    )
    return ok(Page[CategoryOut].build([CategoryOut.model_validate(c) for c in rows], paging, total))


@categories_router.post(
    "",
    status_code=201,
    response_model=Envelope[CategoryOut],
    openapi_extra=idempotent(),
    summary="Add a category",
    description="The name must be unique among the restaurant's active categories (409).",
)
async def create_category(
    body: CategoryCreate, subject: Manager, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[CategoryOut]:
    category = await CategoryService(session, subject).create(restaurant, body)
    return ok(CategoryOut.model_validate(category))


@categories_router.get("/{category_id}", response_model=Envelope[CategoryOut], summary="A category")
async def get_category(
    category_id: uuid.UUID, subject: Reader, session: SessionDep
) -> Envelope[CategoryOut]:
    return ok(CategoryOut.model_validate(await CategoryService(session, subject).get(category_id)))


@categories_router.put(
    "/{category_id}",
    response_model=Envelope[CategoryOut],
    summary="Change a category",
    description="Fields left out are kept. `isActive: false` archives it, `true` restores it.",
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, subject: Manager, session: SessionDep
) -> Envelope[CategoryOut]:
    category = await CategoryService(session, subject).update(category_id, body)
    return ok(CategoryOut.model_validate(category))


@categories_router.delete(
    "/{category_id}",
    response_model=Envelope[CategoryOut],
    summary="Archive a category",
    description="Refused (409, with `details.activeProducts`) while it has active products.",
)
async def archive_category(
    category_id: uuid.UUID, subject: Manager, session: SessionDep
) -> Envelope[CategoryOut]:
    category = await CategoryService(session, subject).archive(category_id)
    return ok(CategoryOut.model_validate(category))


# ---------------------------------------------------------------------------------------------
# Products


@products_router.get(
    "",
    response_model=Envelope[Page[ProductOut]],
    summary="Products of the menu",
    description="Sorted by sortOrder, then name. Archived products only with includeArchived.",
)
async def list_products(
    subject: Reader,
    restaurant: CurrentRestaurant,
    session: SessionDep,
    paging: Paging,
    category_id: Annotated[uuid.UUID | None, Query(alias="categoryId")] = None,
    available: bool | None = None,
    dietary: Annotated[
        list[DietaryFlag] | None,
        Query(description="Only products with every flag given, e.g. dietary=vegan"),
    ] = None,
    search: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Name contains (any case), or barcode"),
    ] = None,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
) -> Envelope[Page[ProductOut]]:
    rows, total = await ProductService(session, subject).list(
        restaurant,
        paging,
        category_id=category_id,
        available=available,
        dietary=dietary or [],
        search=search.strip() if search else None,
        include_archived=include_archived,
    )
    show_cost = subject.can("menu.manage")
    items = [product_out(p, c, restaurant.currency, show_cost=show_cost) for p, c in rows]
    return ok(Page[ProductOut].build(items, paging, total))


@products_router.post(
    "",
    status_code=201,
    response_model=Envelope[ProductOut],
    openapi_extra=idempotent(),
    summary="Add a product (with its modifier groups)",
)
async def create_product(
    body: ProductCreate, subject: Manager, restaurant: CurrentRestaurant, session: SessionDep
) -> Envelope[ProductOut]:
    view = await ProductService(session, subject).create(restaurant, body)
    return ok(_view_out(view, subject))


@products_router.get(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    summary="A product (archived ones too, so old orders can show them)",
)
async def get_product(
    product_id: uuid.UUID, subject: Reader, session: SessionDep
) -> Envelope[ProductOut]:
    return ok(_view_out(await ProductService(session, subject).get(product_id), subject))


@products_router.put(
    "/{product_id}",
    response_model=Envelope[ProductOut],
    summary="Change a product",
    description="Fields left out are kept; `modifiers` replaces every group. Send the `version` "
    "you read to be refused (409 stale_version) if someone changed it meanwhile.",
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, subject: Manager, session: SessionDep
) -> Envelope[ProductOut]:
    return ok(_view_out(await ProductService(session, subject).update(product_id, body), subject))


@products_router.patch(
    "/{product_id}/availability",
    response_model=Envelope[ProductOut],
    summary="Make a product available or not (86 it)",
)
async def set_availability(
    product_id: uuid.UUID, body: AvailabilityUpdate, subject: Manager, session: SessionDep
) -> Envelope[ProductOut]:
    view = await ProductService(session, subject).set_availability(product_id, body)
    return ok(_view_out(view, subject))


@products_router.delete(
    "/{product_id}",
    response_model=Envelope[ProductDeleted],
    summary="Delete a product, or archive it when past orders refer to it",
)
async def delete_product(
    product_id: uuid.UUID, subject: Manager, session: SessionDep
) -> Envelope[ProductDeleted]:
    archived = await ProductService(session, subject).delete(product_id)
    return ok(ProductDeleted(id=product_id, deleted=not archived, archived=archived))
